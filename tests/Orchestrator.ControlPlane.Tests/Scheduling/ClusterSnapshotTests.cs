using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

public sealed class ClusterSnapshotTests
{
    [Fact]
    public void Nodes_are_listed_by_name_whatever_order_they_came_in()
    {
        var snapshot = Snapshot(Node("node-c"), Node("node-a"), Node("node-b"));

        Assert.Equal(["node-a", "node-b", "node-c"], snapshot.Nodes.Select(n => n.Name));
    }

    [Fact]
    public void A_replica_bound_to_a_node_that_has_not_registered_counts_once_it_does()
    {
        var snapshot = Snapshot([], Bound("db-1", "node-1", cpu: "1", memory: "1Gi", ports: "pg=20000"));
        Assert.Empty(snapshot.Nodes);
        Assert.Null(snapshot.Node("node-1"));

        var node = Node("node-1", ports: "20000-20009");
        snapshot.SetNode("node-1", node.Info, cordoned: false, node.Status);

        var registered = snapshot.NodeOf("node-1");
        Assert.Equal((1000, 1L << 30, 1, 9), (registered.CpuUsed, registered.MemoryUsed, registered.Replicas, registered.FreePorts));
        Assert.Equal(["node-1"], snapshot.Nodes.Select(n => n.Name));
    }

    [Fact]
    public void A_removed_node_is_no_longer_listed_and_its_replicas_count_again_when_it_returns()
    {
        var node = Node("node-1");
        var snapshot = Snapshot([node], Bound("db-1", "node-1", cpu: "1"));

        snapshot.RemoveNode("node-1");
        Assert.Empty(snapshot.Nodes);

        snapshot.SetNode("node-1", node.Info, cordoned: false, node.Status);
        Assert.Equal(1000, snapshot.NodeOf("node-1").CpuUsed);
    }

    [Fact]
    public void Setting_a_replica_again_replaces_what_was_counted_for_it()
    {
        var snapshot = Snapshot([Node("node-1"), Node("node-2")], Bound("web-1", "node-1", owner: "service/web", cpu: "1", ports: "http=20000"));

        var moved = Bound("web-1", "node-2", owner: "service/web", cpu: "2", ports: "http=20005");
        snapshot.SetReplica("web-1", moved.Spec, moved.Status);

        var (one, two) = (snapshot.NodeOf("node-1"), snapshot.NodeOf("node-2"));
        Assert.Equal((0, 0, false, 10), (one.CpuUsed, one.Replicas, one.IsPortUsed(20000), one.FreePorts));
        Assert.Equal((2000, 1, true, 9), (two.CpuUsed, two.Replicas, two.IsPortUsed(20005), two.FreePorts));
        Assert.Equal(1, snapshot.Owner("service/web")!.CountOn(two));
        Assert.Equal(0, snapshot.Owner("service/web")!.CountOn(one));
    }

    [Fact]
    public void A_replica_without_a_node_counts_nowhere()
    {
        var unbound = Bound("web-1", "", owner: "service/web", cpu: "1");
        var snapshot = Snapshot([Node("node-1")], unbound);

        Assert.Equal(0, snapshot.BoundReplicas);
        Assert.Null(snapshot.Owner("service/web"));
    }

    [Fact]
    public void Removing_the_last_replica_of_an_owner_forgets_the_owner_and_frees_everything()
    {
        var snapshot = Snapshot([Node("node-1")], Bound("web-1", "node-1", owner: "service/web", cpu: "1", memory: "1Gi", ports: "http=20000"));
        var before = snapshot.RoomVersion;

        snapshot.RemoveReplica("web-1");

        var node = snapshot.NodeOf("node-1");
        Assert.Equal((0, 0L, 0, 10), (node.CpuUsed, node.MemoryUsed, node.Replicas, node.FreePorts));
        Assert.Null(snapshot.Owner("service/web"));
        Assert.True(snapshot.RoomVersion > before);
    }

    [Fact]
    public void A_port_held_by_two_replicas_stays_held_until_both_let_go()
    {
        var snapshot = Snapshot([Node("node-1")], Bound("a", "node-1", ports: "http=20000"), Bound("b", "node-1", ports: "http=20000"));
        Assert.Equal(9, snapshot.NodeOf("node-1").FreePorts);

        snapshot.RemoveReplica("a");
        Assert.True(snapshot.NodeOf("node-1").IsPortUsed(20000));

        snapshot.RemoveReplica("b");
        Assert.Equal((false, 10), (snapshot.NodeOf("node-1").IsPortUsed(20000), snapshot.NodeOf("node-1").FreePorts));
    }

    [Fact]
    public void A_new_port_range_recounts_the_free_ports()
    {
        var snapshot = Snapshot([Node("node-1", ports: "20000-20009")], Bound("a", "node-1", ports: "http=20000"));

        var moved = Node("node-1", ports: "30000-30004");
        snapshot.SetNode("node-1", moved.Info, cordoned: false, moved.Status);

        Assert.Equal(5, snapshot.NodeOf("node-1").FreePorts);
    }

    [Fact]
    public void A_clone_changes_independently_of_the_original()
    {
        var original = Snapshot([Node("node-1")], Bound("web-1", "node-1", owner: "service/web", cpu: "1", ports: "http=20000"));
        var copy = original.Clone();

        copy.RemoveReplica("web-1");
        var extra = Bound("web-2", "node-1", owner: "service/web", cpu: "2", ports: "http=20001");
        copy.SetReplica("web-2", extra.Spec, extra.Status);

        var node = original.NodeOf("node-1");
        Assert.Equal((1000, true, false, 9), (node.CpuUsed, node.IsPortUsed(20000), node.IsPortUsed(20001), node.FreePorts));
        Assert.Equal(1, original.Owner("service/web")!.CountOn(node));
        Assert.NotNull(original.Allocation("web-1"));
        Assert.Null(original.Allocation("web-2"));
        Assert.Equal(1, copy.Owner("service/web")!.CountOn(copy.NodeOf("node-1")));
        Assert.Equal(2000, copy.NodeOf("node-1").CpuUsed);
    }

    [Fact]
    public void A_replica_is_counted_toward_its_owner_only_while_it_holds_resources_and_is_meant_to_run()
    {
        var snapshot = Snapshot(
            [Node("node-1")],
            Bound("web-1", "node-1", owner: "service/web"),
            Bound("web-2", "node-1", owner: "service/web", desired: DesiredState.Drain),
            Bound("web-3", "node-1", owner: "service/web", phase: Phase.Failed),
            Bound("web-4", "node-1", owner: "service/web", phase: Phase.Failed, retrying: true));

        Assert.Equal(2, snapshot.Owner("service/web")!.CountOn(snapshot.NodeOf("node-1")));
        Assert.Equal(3, snapshot.NodeOf("node-1").Replicas);
    }
}
