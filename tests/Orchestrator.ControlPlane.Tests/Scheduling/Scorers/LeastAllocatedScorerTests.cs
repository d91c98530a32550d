using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Scorers;

public sealed class LeastAllocatedScorerTests
{
    private readonly LeastAllocatedScorer _scorer = new();

    private (double Score, string Detail) Score(string nodeCpu, string nodeMemory, string usedCpu, string usedMemory, string cpu, string memory)
    {
        var snapshot = Snapshot([Node("node-1", cpu: nodeCpu, memory: nodeMemory)], Bound("db-1", "node-1", cpu: usedCpu, memory: usedMemory));
        var context = Context(Request(cpu: cpu, memory: memory), snapshot);
        var node = snapshot.NodeOf("node-1");
        var score = _scorer.Score(context, node);
        return (score, _scorer.Describe(context, node, score));
    }

    [Fact]
    public void Is_weighted_by_the_name_least_allocated()
    {
        Assert.Equal("least-allocated", _scorer.Name);
    }

    [Fact]
    public void Scores_the_mean_share_left_free_after_placing()
    {
        // cpu (4 - 1.5) / 4 = 62.5, memory (8 - 4) / 8 = 50: mean 56.25.
        Assert.Equal((56.25, "2500m of 4 cpu and 4Gi of 8Gi memory free after placing"), Score("4", "8Gi", "1", "2Gi", "500m", "2Gi"));
    }

    [Fact]
    public void An_empty_node_scores_higher_than_a_busy_one()
    {
        Assert.True(Score("4", "8Gi", "0", "0", "1", "1Gi").Score > Score("4", "8Gi", "2", "4Gi", "1", "1Gi").Score);
        Assert.Equal(100, Score("4", "8Gi", "0", "0", "0", "0").Score);
    }

    [Fact]
    public void A_node_with_none_of_a_resource_counts_it_as_fully_used()
    {
        Assert.Equal(0, Score("", "", "0", "0", "0", "0").Score);
        Assert.Equal(50, Score("0", "8Gi", "0", "0", "0", "0").Score);
    }

    [Fact]
    public void An_overcommitted_node_scores_zero_not_below()
    {
        Assert.Equal((0, "0 of 1 cpu and 0 of 1Gi memory free after placing"), Score("1", "1Gi", "2", "2Gi", "250m", "128Mi"));
    }

    [Theory]
    [InlineData(PlacementStrategy.Spread, true)]
    [InlineData(PlacementStrategy.Unspecified, true)]
    [InlineData(PlacementStrategy.Binpack, false)]
    public void Has_a_say_for_the_spread_strategy_only(PlacementStrategy strategy, bool applies)
    {
        Assert.Equal(applies, _scorer.AppliesTo(Request(strategy: strategy)));
    }
}
