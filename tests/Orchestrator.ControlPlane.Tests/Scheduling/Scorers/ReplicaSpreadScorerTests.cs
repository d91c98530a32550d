using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Scorers;

public sealed class ReplicaSpreadScorerTests
{
    private readonly ReplicaSpreadScorer _scorer = new();

    private (double Score, string Detail) Score(int webReplicasOnNode, string owner = "service/web", Phase phase = Phase.Running)
    {
        var replicas = Enumerable.Range(1, webReplicasOnNode).Select(i => Bound($"web-{i}", "node-1", owner: "service/web", phase: phase))
            .Append(Bound("api-1", "node-1", owner: "service/api"));
        var snapshot = Snapshot([Node("node-1")], [.. replicas]);
        var context = Context(Request(owner: owner), snapshot);
        var node = snapshot.NodeOf("node-1");
        var score = _scorer.Score(context, node);
        return (score, _scorer.Describe(context, node, score));
    }

    [Fact]
    public void Is_weighted_by_the_name_spread()
    {
        Assert.Equal("spread", _scorer.Name);
    }

    [Fact]
    public void A_node_without_a_replica_of_the_owner_scores_one_hundred()
    {
        Assert.Equal((100, "no replica of service/web here yet"), Score(0));
    }

    [Fact]
    public void Each_replica_of_the_owner_already_there_lowers_the_score()
    {
        Assert.Equal((50, "1 replica of service/web already here"), Score(1));
        Assert.Equal((100.0 / 3, "2 replicas of service/web already here"), Score(2));
        Assert.Equal((25, "3 replicas of service/web already here"), Score(3));
    }

    [Fact]
    public void Replicas_of_other_owners_and_replicas_that_ended_do_not_count()
    {
        Assert.Equal(100, Score(2, owner: "service/other").Score);
        Assert.Equal(100, Score(2, phase: Phase.Succeeded).Score);
    }

    [Theory]
    [InlineData(PlacementStrategy.Spread, "service/web", true)]
    [InlineData(PlacementStrategy.Unspecified, "service/web", true)]
    [InlineData(PlacementStrategy.Binpack, "service/web", false)]
    [InlineData(PlacementStrategy.Spread, "", false)]
    public void Has_a_say_for_owned_replicas_placed_by_spread(PlacementStrategy strategy, string owner, bool applies)
    {
        Assert.Equal(applies, _scorer.AppliesTo(Request(owner: owner, strategy: strategy)));
    }
}
