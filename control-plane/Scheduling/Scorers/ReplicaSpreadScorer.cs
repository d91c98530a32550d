using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling.Scorers;

/// <summary>
/// Spread strategy: prefers nodes that run fewer replicas of the same owner, so losing one node
/// loses as few of a service's replicas as possible. Score = 100 / (1 + replicas of the owner
/// already there): 100 for none, 50 for one, 33 for two.
/// </summary>
public sealed class ReplicaSpreadScorer : IScorer
{
    public string Name => "spread";

    public bool AppliesTo(PlacementRequest request) => request.Strategy == PlacementStrategy.Spread && request.Owner.Length > 0;

    public double Score(PlacementContext context, SchedulingNode node) => 100.0 / (1 + context.OwnerReplicasOn(node));

    public string Describe(PlacementContext context, SchedulingNode node, double score)
    {
        var count = context.OwnerReplicasOn(node);
        return count switch
        {
            0 => $"no replica of {context.Request.Owner} here yet",
            1 => $"1 replica of {context.Request.Owner} already here",
            _ => $"{count} replicas of {context.Request.Owner} already here",
        };
    }
}

/// <summary>
/// With <c>placement.spreadBy: zone</c>: prefers nodes whose zone (the label's value) runs fewer
/// replicas of the owner, so a whole zone going down loses as few as possible. Score = 100 /
/// (1 + replicas of the owner in the node's zone); a node without the label scores 0.
/// </summary>
public sealed class TopologySpreadScorer : IScorer
{
    public string Name => "topology-spread";

    public bool AppliesTo(PlacementRequest request) => request.SpreadBy.Length > 0 && request.Owner.Length > 0;

    public double Score(PlacementContext context, SchedulingNode node) =>
        node.Label(context.Request.SpreadBy) is { } value ? 100.0 / (1 + context.TopologyCounts.GetValueOrDefault(value)) : 0;

    public string Describe(PlacementContext context, SchedulingNode node, double score)
    {
        var key = context.Request.SpreadBy;
        if (node.Label(key) is not { } value)
        {
            return $"node has no label {key}";
        }

        var count = context.TopologyCounts.GetValueOrDefault(value);
        return $"{count} {(count == 1 ? "replica" : "replicas")} of {context.Request.Owner} in {key} {value}";
    }
}
