using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Scorers;

public sealed class TopologySpreadScorerTests
{
    private readonly TopologySpreadScorer _scorer = new();

    /// <summary>Zone a: node-a1 with 2 replicas of web and node-a2 with 1; zone b: node-b1 with 1 that ended; node-x without a zone, with 1.</summary>
    private static readonly ClusterSnapshot Zones = Snapshot(
        [Node("node-a1", labels: "zone=a"), Node("node-a2", labels: "zone=a"), Node("node-b1", labels: "zone=b"), Node("node-x")],
        Bound("web-1", "node-a1", owner: "service/web"),
        Bound("web-2", "node-a1", owner: "service/web"),
        Bound("web-3", "node-a2", owner: "service/web"),
        Bound("web-4", "node-b1", owner: "service/web", phase: Phase.Lost),
        Bound("web-5", "node-x", owner: "service/web"),
        Bound("api-1", "node-b1", owner: "service/api"));

    private (double Score, string Detail) Score(string node, string owner = "service/web")
    {
        var context = Context(Request(owner: owner, spreadBy: "zone"), Zones);
        var scheduling = Zones.NodeOf(node);
        var score = _scorer.Score(context, scheduling);
        return (score, _scorer.Describe(context, scheduling, score));
    }

    [Fact]
    public void Is_weighted_by_the_name_topology_spread()
    {
        Assert.Equal("topology-spread", _scorer.Name);
    }

    [Fact]
    public void Every_node_of_a_zone_scores_by_the_replicas_of_the_owner_in_the_whole_zone()
    {
        Assert.Equal((25, "3 replicas of service/web in zone a"), Score("node-a1"));
        Assert.Equal((25, "3 replicas of service/web in zone a"), Score("node-a2"));
    }

    [Fact]
    public void A_zone_without_a_running_replica_of_the_owner_scores_one_hundred()
    {
        Assert.Equal((100, "0 replicas of service/web in zone b"), Score("node-b1"));
    }

    [Fact]
    public void A_zone_with_one_replica_says_so_in_the_singular()
    {
        Assert.Equal((50, "1 replica of service/api in zone b"), Score("node-b1", owner: "service/api"));
    }

    [Fact]
    public void A_node_without_the_label_scores_zero()
    {
        Assert.Equal((0, "node has no label zone"), Score("node-x"));
    }

    [Theory]
    [InlineData(PlacementStrategy.Spread, "service/web", "zone", true)]
    [InlineData(PlacementStrategy.Binpack, "service/web", "zone", true)]
    [InlineData(PlacementStrategy.Spread, "service/web", "", false)]
    [InlineData(PlacementStrategy.Spread, "", "zone", false)]
    public void Has_a_say_for_owned_replicas_with_spread_by_whatever_the_strategy(PlacementStrategy strategy, string owner, string spreadBy, bool applies)
    {
        Assert.Equal(applies, _scorer.AppliesTo(Request(owner: owner, strategy: strategy, spreadBy: spreadBy)));
    }
}
