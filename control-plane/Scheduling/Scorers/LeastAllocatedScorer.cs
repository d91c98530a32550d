using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling.Scorers;

/// <summary>
/// Spread strategy: prefers the node with the most cpu and memory left after placing, so load
/// spreads out. Score = mean over cpu and memory of free-after-placing / allocatable x 100.
/// A 4-cpu node with 1 cpu used, placing 500m: cpu (4 - 1.5) / 4 = 62.5.
/// </summary>
public sealed class LeastAllocatedScorer : IScorer
{
    public string Name => "least-allocated";

    public bool AppliesTo(PlacementRequest request) => request.Strategy == PlacementStrategy.Spread;

    public double Score(PlacementContext context, SchedulingNode node) =>
        100 - Allocation.UsedAfterPercent(context.Request, node);

    public string Describe(PlacementContext context, SchedulingNode node, double score) =>
        Allocation.DescribeFreeAfter(context.Request, node);
}

/// <summary>
/// Binpack strategy: prefers the node with the least left after placing, so nodes fill up one
/// by one and whole nodes stay free. Score = mean over cpu and memory of used-after-placing /
/// allocatable x 100.
/// </summary>
public sealed class MostAllocatedScorer : IScorer
{
    public string Name => "most-allocated";

    public bool AppliesTo(PlacementRequest request) => request.Strategy == PlacementStrategy.Binpack;

    public double Score(PlacementContext context, SchedulingNode node) =>
        Allocation.UsedAfterPercent(context.Request, node);

    public string Describe(PlacementContext context, SchedulingNode node, double score) =>
        Allocation.DescribeFreeAfter(context.Request, node);
}

/// <summary>
/// Spread strategy: prefers the node whose cpu and memory would be used in the same proportion
/// after placing, so neither runs out while the other sits idle. Score = 100 - |cpu% - memory%|.
/// Not for binpack: there an empty node is perfectly balanced, and balance would pull small
/// replicas away from the half-full node binpack means to fill.
/// </summary>
public sealed class BalancedAllocationScorer : IScorer
{
    public string Name => "balanced";

    public bool AppliesTo(PlacementRequest request) => request.Strategy == PlacementStrategy.Spread;

    public double Score(PlacementContext context, SchedulingNode node)
    {
        var cpu = Allocation.Fraction(node.CpuUsed + context.Request.CpuMillis, node.AllocatableCpu);
        var memory = Allocation.Fraction(node.MemoryUsed + context.Request.MemoryBytes, node.AllocatableMemory);
        return 100 - (Math.Abs(cpu - memory) * 100);
    }

    public string Describe(PlacementContext context, SchedulingNode node, double score)
    {
        var cpu = Allocation.Fraction(node.CpuUsed + context.Request.CpuMillis, node.AllocatableCpu);
        var memory = Allocation.Fraction(node.MemoryUsed + context.Request.MemoryBytes, node.AllocatableMemory);
        return $"cpu {cpu * 100:0}% and memory {memory * 100:0}% used after placing";
    }
}
