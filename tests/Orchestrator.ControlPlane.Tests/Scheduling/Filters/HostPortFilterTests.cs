using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Filters;

public sealed class HostPortFilterTests
{
    private readonly HostPortFilter _filter = new();

    private (string? Rule, string Detail) Check(ClusterSnapshot snapshot, string ports)
    {
        var context = Context(Request(ports: ports), snapshot);
        var node = snapshot.NodeOf("node-1");
        return (_filter.Filter(context, node), _filter.Describe(context, node));
    }

    [Fact]
    public void Is_enabled_by_the_name_host_ports()
    {
        Assert.Equal("host-ports", _filter.Name);
    }

    [Fact]
    public void A_replica_without_ports_fits_a_node_without_a_port_range()
    {
        Assert.Equal((null, "no host port range, needs 0"), Check(Snapshot(Node("node-1", ports: "")), ""));
    }

    [Fact]
    public void A_replica_with_a_port_is_rejected_by_a_node_without_a_port_range()
    {
        Assert.Equal(("no free host port", "no host port range, needs 1"), Check(Snapshot(Node("node-1", ports: "")), "http"));
    }

    [Fact]
    public void A_replica_passes_while_the_range_has_a_free_port_for_each_declared_port()
    {
        var snapshot = Snapshot([Node("node-1", ports: "20000-20002")], Bound("db-1", "node-1", ports: "pg=20001"));

        Assert.Equal((null, "2 of 3 host ports free (20000-20002), needs 2"), Check(snapshot, "http,admin"));
    }

    [Fact]
    public void An_exhausted_range_rejects_a_replica_that_declares_a_port()
    {
        var snapshot = Snapshot(
            [Node("node-1", ports: "20000-20002")],
            Bound("db-1", "node-1", ports: "pg=20000,admin=20001"),
            Bound("db-2", "node-1", ports: "pg=20002"));

        Assert.Equal(("no free host port", "0 of 3 host ports free (20000-20002), needs 1"), Check(snapshot, "http"));
        Assert.Equal((null, "0 of 3 host ports free (20000-20002), needs 0"), Check(snapshot, ""));
    }

    [Fact]
    public void A_replica_with_more_ports_than_are_free_is_rejected()
    {
        var snapshot = Snapshot([Node("node-1", ports: "20000-20001")], Bound("db-1", "node-1", ports: "pg=20000"));

        Assert.Equal(("no free host port", "1 of 2 host ports free (20000-20001), needs 2"), Check(snapshot, "http,admin"));
    }

    [Fact]
    public void Ports_held_outside_the_range_do_not_use_it_up()
    {
        var snapshot = Snapshot([Node("node-1", ports: "20000-20000")], Bound("db-1", "node-1", ports: "pg=5432"));

        Assert.Equal((null, "1 of 1 host ports free (20000-20000), needs 1"), Check(snapshot, "http"));
    }

    [Fact]
    public void A_replica_that_ended_keeps_its_host_ports_until_it_is_removed()
    {
        // A lost replica may still run on a partitioned node, and an ended one keeps its
        // port in its spec: the port is free again only once the replica is gone.
        var snapshot = Snapshot([Node("node-1", ports: "20000-20000")], Bound("job-1", "node-1", phase: Phase.Succeeded, ports: "http=20000"));
        Assert.Equal("no free host port", Check(snapshot, "http").Rule);

        snapshot.RemoveReplica("job-1");

        Assert.Null(Check(snapshot, "http").Rule);
    }

    [Fact]
    public void The_ports_given_are_the_lowest_free_ones_of_the_range_in_declared_order()
    {
        var snapshot = Snapshot([Node("node-1", ports: "20000-20004")], Bound("db-1", "node-1", ports: "pg=20001"));

        var ports = snapshot.NodeOf("node-1").AllocatePorts(["http", "admin", "metrics"]);

        Assert.Equal(new Dictionary<string, int> { ["http"] = 20000, ["admin"] = 20002, ["metrics"] = 20003 }, ports);
    }
}
