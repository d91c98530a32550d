using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Filters;

public sealed class MaxPerNodeFilterTests
{
    private readonly MaxPerNodeFilter _filter = new();

    private (string? Rule, string Detail) Check(ClusterSnapshot snapshot, int maxPerNode, string owner = "service/web")
    {
        var context = Context(Request(owner: owner, maxPerNode: maxPerNode), snapshot);
        var node = snapshot.NodeOf("node-1");
        return (_filter.Filter(context, node), _filter.Describe(context, node));
    }

    private static ClusterSnapshot WebReplicas(int count, Phase phase = Phase.Running, DesiredState desired = DesiredState.Run) =>
        Snapshot([Node("node-1"), Node("node-2")], [.. Enumerable.Range(1, count).Select(i => Bound($"web-{i}", "node-1", owner: "service/web", phase: phase, desired: desired))]);

    [Fact]
    public void Is_enabled_by_the_name_max_per_node()
    {
        Assert.Equal("max-per-node", _filter.Name);
    }

    [Fact]
    public void A_node_below_the_limit_passes()
    {
        Assert.Equal((null, "already runs 1 replica of service/web, maxPerNode is 2"), Check(WebReplicas(1), maxPerNode: 2));
    }

    [Fact]
    public void A_node_at_the_limit_is_rejected()
    {
        Assert.Equal(("at maxPerNode", "already runs 2 replicas of service/web, maxPerNode is 2"), Check(WebReplicas(2), maxPerNode: 2));
        Assert.Equal(("at maxPerNode", "already runs 1 replica of service/web, maxPerNode is 1"), Check(WebReplicas(1), maxPerNode: 1));
    }

    [Fact]
    public void Zero_means_no_limit()
    {
        Assert.Null(Check(WebReplicas(5), maxPerNode: 0).Rule);
    }

    [Fact]
    public void Only_replicas_of_the_same_owner_count()
    {
        Assert.Equal((null, "already runs 0 replicas of service/api, maxPerNode is 1"), Check(WebReplicas(3), maxPerNode: 1, owner: "service/api"));
        Assert.Null(Check(WebReplicas(3), maxPerNode: 1, owner: "job/web").Rule);
    }

    [Theory]
    [InlineData(Phase.Succeeded)]
    [InlineData(Phase.Failed)]
    [InlineData(Phase.Lost)]
    public void Replicas_that_ended_no_longer_count(Phase phase)
    {
        Assert.Null(Check(WebReplicas(2, phase), maxPerNode: 1).Rule);
    }

    [Fact]
    public void A_failed_replica_waiting_to_be_retried_still_counts()
    {
        var snapshot = Snapshot([Node("node-1")], Bound("web-1", "node-1", owner: "service/web", phase: Phase.Failed, retrying: true));

        Assert.Equal("at maxPerNode", Check(snapshot, maxPerNode: 1).Rule);
    }

    [Theory]
    [InlineData(DesiredState.Drain)]
    [InlineData(DesiredState.Stop)]
    public void Replicas_being_retired_do_not_count(DesiredState desired)
    {
        Assert.Null(Check(WebReplicas(1, desired: desired), maxPerNode: 1).Rule);
    }

    [Fact]
    public void A_replica_nobody_owns_is_never_limited()
    {
        Assert.Null(Check(WebReplicas(3), maxPerNode: 1, owner: "").Rule);
    }
}
