using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Scorers;

public sealed class BalancedAllocationScorerTests
{
    private readonly BalancedAllocationScorer _scorer = new();

    private (double Score, string Detail) Score(string nodeCpu, string nodeMemory, string usedCpu, string usedMemory, string cpu, string memory)
    {
        var snapshot = Snapshot([Node("node-1", cpu: nodeCpu, memory: nodeMemory)], Bound("db-1", "node-1", cpu: usedCpu, memory: usedMemory));
        var context = Context(Request(cpu: cpu, memory: memory), snapshot);
        var node = snapshot.NodeOf("node-1");
        var score = _scorer.Score(context, node);
        return (score, _scorer.Describe(context, node, score));
    }

    [Fact]
    public void Is_weighted_by_the_name_balanced()
    {
        Assert.Equal("balanced", _scorer.Name);
    }

    [Fact]
    public void Cpu_and_memory_used_in_the_same_proportion_score_one_hundred()
    {
        Assert.Equal((100, "cpu 50% and memory 50% used after placing"), Score("4", "8Gi", "1", "2Gi", "1", "2Gi"));
    }

    [Fact]
    public void Scores_one_hundred_minus_the_gap_between_the_shares_used()
    {
        // cpu 2 / 4 = 50%, memory 6 / 8 = 75%: 100 - 25.
        Assert.Equal((75, "cpu 50% and memory 75% used after placing"), Score("4", "8Gi", "1", "2Gi", "1", "4Gi"));
    }

    [Fact]
    public void A_node_with_no_memory_left_idle_cpu_scores_low()
    {
        Assert.Equal((0, "cpu 0% and memory 100% used after placing"), Score("4", "1Gi", "0", "512Mi", "0", "512Mi"));
    }

    [Theory]
    [InlineData(PlacementStrategy.Spread, true)]
    [InlineData(PlacementStrategy.Unspecified, true)]
    [InlineData(PlacementStrategy.Binpack, false)]
    public void Has_a_say_for_spread_only_because_an_empty_node_is_perfectly_balanced(PlacementStrategy strategy, bool applies)
    {
        Assert.Equal(applies, _scorer.AppliesTo(Request(strategy: strategy)));
    }
}
