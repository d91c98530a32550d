using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>Only nodes that are Ready (their agent is connected and heartbeating) and not cordoned take new replicas.</summary>
public sealed class NodeReadyFilter : IFilter
{
    public const string NotReady = "not ready";
    public const string Cordoned = "cordoned";

    public string Name => "node-ready";

    public string? Filter(PlacementContext context, SchedulingNode node) =>
        node.State != NodeState.Ready ? NotReady : node.Cordoned ? Cordoned : null;

    public string Describe(PlacementContext context, SchedulingNode node)
    {
        if (node.State != NodeState.Ready)
        {
            var state = node.State switch
            {
                NodeState.NotReady => "NotReady",
                NodeState.Down => "Down",
                _ => "not reported yet",
            };
            return node.StateReason.Length > 0 ? $"node is {state}: {node.StateReason}" : $"node is {state}";
        }

        return node.Cordoned ? "node is cordoned: no new replicas are placed here (orc node uncordon to allow them)" : "node is Ready";
    }
}
