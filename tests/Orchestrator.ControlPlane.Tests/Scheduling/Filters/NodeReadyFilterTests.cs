using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Filters;

public sealed class NodeReadyFilterTests
{
    private readonly NodeReadyFilter _filter = new();

    private (string? Rule, string Detail) Check(Orchestrator.V1.Node node)
    {
        var snapshot = Snapshot(node);
        var context = Context(Request(), snapshot);
        var scheduling = snapshot.NodeOf(node.Meta.Name);
        return (_filter.Filter(context, scheduling), _filter.Describe(context, scheduling));
    }

    [Fact]
    public void Is_enabled_by_the_name_node_ready()
    {
        Assert.Equal("node-ready", _filter.Name);
    }

    [Fact]
    public void A_ready_node_that_is_not_cordoned_passes()
    {
        Assert.Equal((null, "node is Ready"), Check(Node("node-1")));
    }

    [Theory]
    [InlineData(NodeState.NotReady, "heartbeat missed for 12s", "node is NotReady: heartbeat missed for 12s")]
    [InlineData(NodeState.NotReady, "", "node is NotReady")]
    [InlineData(NodeState.Down, "agent stopped", "node is Down: agent stopped")]
    [InlineData(NodeState.Unspecified, "", "node is not reported yet")]
    public void A_node_that_is_not_ready_is_rejected_with_its_state_and_reason(NodeState state, string reason, string detail)
    {
        Assert.Equal(("not ready", detail), Check(Node("node-1", state: state, reason: reason)));
    }

    [Fact]
    public void The_reason_falls_back_to_the_status_reason_when_it_has_no_message()
    {
        var node = Node("node-1", state: NodeState.NotReady);
        node.Status.Reason = "NodeLost";

        Assert.Equal(("not ready", "node is NotReady: NodeLost"), Check(node));
    }

    [Fact]
    public void A_node_without_any_status_is_not_ready()
    {
        var node = Node("node-1");
        node.Status = null;

        Assert.Equal(("not ready", "node is not reported yet"), Check(node));
    }

    [Fact]
    public void A_cordoned_ready_node_is_rejected_and_says_how_to_allow_replicas_again()
    {
        Assert.Equal(
            ("cordoned", "node is cordoned: no new replicas are placed here (orc node uncordon to allow them)"),
            Check(Node("node-1", cordoned: true)));
    }

    [Fact]
    public void A_cordoned_node_that_is_also_not_ready_counts_as_not_ready()
    {
        Assert.Equal(("not ready", "node is Down"), Check(Node("node-1", state: NodeState.Down, cordoned: true)));
    }
}
