using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Scorers;

public sealed class MostAllocatedScorerTests
{
    private readonly MostAllocatedScorer _scorer = new();

    private (double Score, string Detail) Score(string nodeCpu, string nodeMemory, string usedCpu, string usedMemory, string cpu, string memory)
    {
        var snapshot = Snapshot([Node("node-1", cpu: nodeCpu, memory: nodeMemory)], Bound("db-1", "node-1", cpu: usedCpu, memory: usedMemory));
        var context = Context(Request(cpu: cpu, memory: memory, strategy: PlacementStrategy.Binpack), snapshot);
        var node = snapshot.NodeOf("node-1");
        var score = _scorer.Score(context, node);
        return (score, _scorer.Describe(context, node, score));
    }

    [Fact]
    public void Is_weighted_by_the_name_most_allocated()
    {
        Assert.Equal("most-allocated", _scorer.Name);
    }

    [Fact]
    public void Scores_the_mean_share_used_after_placing()
    {
        // cpu 1.5 / 4 = 37.5, memory 4 / 8 = 50: mean 43.75.
        Assert.Equal((43.75, "2500m of 4 cpu and 4Gi of 8Gi memory free after placing"), Score("4", "8Gi", "1", "2Gi", "500m", "2Gi"));
    }

    [Fact]
    public void A_busy_node_scores_higher_than_an_empty_one()
    {
        Assert.True(Score("4", "8Gi", "2", "4Gi", "1", "1Gi").Score > Score("4", "8Gi", "0", "0", "1", "1Gi").Score);
        Assert.Equal(100, Score("4", "8Gi", "3", "7Gi", "1", "1Gi").Score);
    }

    [Fact]
    public void An_overcommitted_node_scores_one_hundred_not_above()
    {
        Assert.Equal(100, Score("1", "1Gi", "2", "2Gi", "250m", "128Mi").Score);
    }

    [Theory]
    [InlineData(PlacementStrategy.Binpack, true)]
    [InlineData(PlacementStrategy.Spread, false)]
    [InlineData(PlacementStrategy.Unspecified, false)]
    public void Has_a_say_for_the_binpack_strategy_only(PlacementStrategy strategy, bool applies)
    {
        Assert.Equal(applies, _scorer.AppliesTo(Request(strategy: strategy)));
    }
}
