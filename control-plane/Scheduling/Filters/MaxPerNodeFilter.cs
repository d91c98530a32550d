namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>With <c>placement.maxPerNode: N</c>, a node that already runs N replicas of the owner takes no more.</summary>
public sealed class MaxPerNodeFilter : IFilter
{
    public const string AtMaximum = "at maxPerNode";

    public string Name => "max-per-node";

    public string? Filter(PlacementContext context, SchedulingNode node) =>
        context.Request.MaxPerNode > 0 && context.OwnerReplicasOn(node) >= context.Request.MaxPerNode ? AtMaximum : null;

    public string Describe(PlacementContext context, SchedulingNode node)
    {
        var count = context.OwnerReplicasOn(node);
        var replicas = count == 1 ? "replica" : "replicas";
        return $"already runs {count} {replicas} of {context.Request.Owner}, maxPerNode is {context.Request.MaxPerNode}";
    }
}
