using Orchestrator.ControlPlane.Scheduling;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>In big clusters a decision stops checking nodes once enough fit, as kube-scheduler does; small clusters are always checked whole.</summary>
public sealed class NodeSamplingTests
{
    private static ClusterSnapshot Nodes(int count, Func<int, bool>? cordoned = null) =>
        Snapshot([.. Enumerable.Range(1, count).Select(i => Node($"node-{i:D4}", cordoned: cordoned?.Invoke(i) ?? false))]);

    [Theory]
    [InlineData(0, 50, int.MaxValue)]
    [InlineData(0, 100, int.MaxValue)]
    [InlineData(0, 1000, 420)]
    [InlineData(0, 5000, 500)]
    [InlineData(0, 20000, 1000)]
    [InlineData(0, 150, 100)]
    [InlineData(30, 1000, 300)]
    [InlineData(100, 5000, int.MaxValue)]
    public void Enough_fitting_nodes_follow_kube_schedulers_adaptive_percentage(int percentage, int nodes, int expected)
    {
        var scheduler = Scheduler.CreateDefault(new SchedulerOptions { PercentageOfNodesToScore = percentage });
        Assert.Equal(expected, scheduler.FeasibleNodesToFind(nodes));
    }

    [Fact]
    public void A_big_cluster_stops_checking_once_enough_fit_and_says_so()
    {
        var snapshot = Nodes(1000);
        var decision = Scheduler.CreateDefault().PlaceFrom(Request("web-1"), snapshot, Now, 0, out var checkedNodes);

        Assert.Equal(420, checkedNodes);
        Assert.Equal((1000, 420, 420), (decision.Explanation.NodesTotal, decision.Explanation.NodesFeasible, decision.Explanation.NodesEvaluated));
        Assert.StartsWith($"Scheduled on {decision.Node}: 420 of 420 nodes checked fit (1000 in all; enough fit to stop checking);", decision.Explanation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checking_starts_where_it_is_told_and_wraps_around()
    {
        var snapshot = Nodes(1000);
        var decision = Scheduler.CreateDefault().PlaceFrom(Request("web-1"), snapshot, Now, 900, out var checkedNodes);

        Assert.Equal(420, checkedNodes);
        var chosen = int.Parse(decision.Node!["node-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(chosen > 900 || chosen <= 320, $"chose {decision.Node}, outside the 420 nodes from node-0901 on");
    }

    [Fact]
    public void A_replica_is_left_pending_only_after_every_node_was_checked()
    {
        var snapshot = Nodes(1000, cordoned: _ => true);
        var decision = Scheduler.CreateDefault().PlaceFrom(Request("web-1"), snapshot, Now, 123, out var checkedNodes);

        Assert.Null(decision.Node);
        Assert.Equal(1000, checkedNodes);
        Assert.Equal("0/1000 nodes fit: 1000 cordoned", decision.Explanation.Message);
    }

    [Fact]
    public void Rare_fitting_nodes_are_found_wherever_they_are()
    {
        var snapshot = Nodes(1000, cordoned: i => i != 17);
        var decision = Scheduler.CreateDefault().PlaceFrom(Request("web-1"), snapshot, Now, 500, out var checkedNodes);

        Assert.Equal("node-0017", decision.Node);
        Assert.Equal(1000, checkedNodes);
    }

    [Fact]
    public void Small_clusters_are_checked_whole_so_labs_see_every_node()
    {
        var snapshot = Nodes(100);
        var decision = Scheduler.CreateDefault().PlaceFrom(Request("web-1"), snapshot, Now, 40, out var checkedNodes);

        Assert.Equal(100, checkedNodes);
        Assert.StartsWith($"Scheduled on {decision.Node}: 100 of 100 nodes fit;", decision.Explanation.Message, StringComparison.Ordinal);
    }
}
