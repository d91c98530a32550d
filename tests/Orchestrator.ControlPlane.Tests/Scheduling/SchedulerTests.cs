using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

public sealed class SchedulerTests
{
    private static readonly Scheduler Default = Scheduler.CreateDefault();

    /// <summary>Places <paramref name="count"/> replicas of <c>service/web</c> one after another, binding each; returns the nodes chosen.</summary>
    private static List<string> PlaceAll(Scheduler scheduler, ClusterSnapshot snapshot, int count, Func<string, PlacementRequest> request)
    {
        var nodes = new List<string>();
        for (var i = 1; i <= count; i++)
        {
            var next = request($"web-{i}");
            var decision = scheduler.Place(next, snapshot, Now);
            snapshot.Bind(next, decision);
            nodes.Add(decision.Node!);
        }

        return nodes;
    }

    [Fact]
    public void Spread_puts_three_replicas_of_a_service_on_three_different_nodes()
    {
        var snapshot = Snapshot(Node("node-1"), Node("node-2"), Node("node-3"));

        var nodes = PlaceAll(Default, snapshot, 3, id => Request(id, cpu: "100m", memory: "64Mi"));

        Assert.Equal(["node-1", "node-2", "node-3"], nodes);
    }

    [Fact]
    public void Spread_avoids_a_node_that_already_runs_the_service_even_when_it_is_the_emptiest()
    {
        var snapshot = Snapshot(
            [Node("node-1", cpu: "8", memory: "16Gi"), Node("node-2"), Node("node-3")],
            Bound("web-0", "node-1", owner: "service/web", cpu: "100m", memory: "64Mi"));

        var nodes = PlaceAll(Default, snapshot, 2, id => Request(id, cpu: "100m", memory: "64Mi"));

        Assert.Equal(["node-2", "node-3"], nodes);
    }

    [Fact]
    public void Binpack_fills_one_node_before_it_uses_the_next()
    {
        var snapshot = Snapshot(Node("node-1", cpu: "4", memory: "8Gi"), Node("node-2", cpu: "4", memory: "8Gi"), Node("node-3", cpu: "4", memory: "8Gi"));

        var nodes = PlaceAll(Default, snapshot, 6, id => Request(id, cpu: "1", memory: "2Gi", strategy: PlacementStrategy.Binpack));

        Assert.Equal(["node-1", "node-1", "node-1", "node-1", "node-2", "node-2"], nodes);
    }

    [Fact]
    public void Binpack_prefers_the_busiest_node_that_still_fits()
    {
        var snapshot = Snapshot(
            [Node("node-1"), Node("node-2"), Node("node-3")],
            Bound("db-1", "node-2", cpu: "2", memory: "4Gi"),
            Bound("db-2", "node-3", cpu: "3500m", memory: "7Gi"));

        var decision = Default.Place(Request(cpu: "1", memory: "2Gi", strategy: PlacementStrategy.Binpack), snapshot, Now);

        Assert.Equal("node-2", decision.Node);
        Assert.Equal("insufficient cpu", Assert.Single(decision.Explanation.Rejected).Rule);
    }

    [Fact]
    public void Topology_spread_alternates_zones_before_it_fills_one()
    {
        // By name alone node-1, node-2 and node-3 (all zone a) would come first.
        var snapshot = Snapshot(
            Node("node-1", labels: "zone=a"),
            Node("node-2", labels: "zone=a"),
            Node("node-3", labels: "zone=a"),
            Node("node-4", labels: "zone=b"),
            Node("node-5", labels: "zone=b"));

        var nodes = PlaceAll(Default, snapshot, 5, id => Request(id, spreadBy: "zone"));

        Assert.Equal(["node-1", "node-4", "node-2", "node-5", "node-3"], nodes);
        Assert.Equal(["a", "b", "a", "b", "a"], nodes.Select(n => snapshot.NodeOf(n).Label("zone")));
    }

    [Fact]
    public void Without_spread_by_the_same_cluster_fills_by_name()
    {
        var snapshot = Snapshot(Node("node-1", labels: "zone=a"), Node("node-2", labels: "zone=a"), Node("node-3", labels: "zone=a"), Node("node-4", labels: "zone=b"));

        Assert.Equal(["node-1", "node-2", "node-3"], PlaceAll(Default, snapshot, 3, id => Request(id)));
    }

    [Fact]
    public void Equal_nodes_are_decided_by_name()
    {
        var snapshot = Snapshot(Node("node-b"), Node("node-c"), Node("node-a"));

        var decision = Default.Place(Request(), snapshot, Now);

        Assert.Equal("node-a", decision.Node);
        Assert.Equal(["node-b", "node-c"], decision.Explanation.Alternatives.Select(a => a.Node));
    }

    private static List<string> TieBreakRun(int seed)
    {
        var scheduler = Scheduler.CreateDefault(new SchedulerOptions { TieBreak = TieBreak.Random, Seed = seed });
        var snapshot = Snapshot([.. Enumerable.Range(0, 8).Select(i => Node($"node-{i}"))]);

        // Replicas of different owners that request nothing: every node scores the same for each.
        var nodes = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            var request = Request($"job-{i}", owner: $"job/j{i}", cpu: "0", memory: "0");
            var decision = scheduler.Place(request, snapshot, Now);
            snapshot.Bind(request, decision);
            nodes.Add(decision.Node!);
        }

        return nodes;
    }

    [Fact]
    public void Random_tie_break_replays_exactly_for_one_seed()
    {
        Assert.Equal(TieBreakRun(42), TieBreakRun(42));
        Assert.Equal(TieBreakRun(7), TieBreakRun(7));
    }

    [Fact]
    public void Random_tie_break_spreads_ties_over_the_nodes_and_differs_between_seeds()
    {
        var runs = Enumerable.Range(1, 4).Select(TieBreakRun).ToList();

        Assert.All(runs, r => Assert.True(r.Distinct().Count() > 1, $"every tie went to {r[0]}"));
        Assert.True(runs.Select(r => string.Join(",", r)).Distinct().Count() > 1, "four seeds gave the same placements");
    }

    [Fact]
    public void Random_tie_break_only_decides_ties()
    {
        var snapshot = Snapshot([Node("node-1"), Node("node-2"), Node("node-3")], Bound("db-1", "node-1", cpu: "1"), Bound("db-2", "node-3", cpu: "1"));

        foreach (var seed in Enumerable.Range(0, 10))
        {
            var scheduler = Scheduler.CreateDefault(new SchedulerOptions { TieBreak = TieBreak.Random, Seed = seed });
            Assert.Equal("node-2", scheduler.Place(Request(), snapshot, Now).Node);
        }
    }

    [Fact]
    public void An_unknown_filter_name_is_refused_with_the_known_names()
    {
        var error = Assert.Throws<ArgumentException>(() => Scheduler.CreateDefault(new SchedulerOptions { Filters = ["node-ready", "host-ports", "gpu"] }));

        Assert.Equal("options", error.ParamName);
        Assert.StartsWith("scheduler filter \"gpu\" is not known; the filters are constraints, driver, host-ports, max-per-node, node-ready, resources", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_that_leave_out_the_host_port_filter_are_refused()
    {
        // Without it, a node with no port left could be chosen for a replica that declares one.
        var error = Assert.Throws<ArgumentException>(() => Scheduler.CreateDefault(new SchedulerOptions { Filters = ["node-ready", "resources"] }));

        Assert.Equal("options", error.ParamName);
        Assert.StartsWith("scheduler filter \"host-ports\" cannot be left out: every declared port needs a free host port of the node's range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_scorer_name_is_refused_with_the_known_names()
    {
        var options = new SchedulerOptions { Scorers = new Dictionary<string, double> { ["least-allocated"] = 1, ["leastallocated"] = 1 } };

        var error = Assert.Throws<ArgumentException>(() => Scheduler.CreateDefault(options));

        Assert.Equal("options", error.ParamName);
        Assert.StartsWith("scheduler scorer \"leastallocated\" is not known; the scorers are balanced, least-allocated, most-allocated, spread, topology-spread", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_negative_weight_is_refused()
    {
        var options = new SchedulerOptions { Scorers = new Dictionary<string, double> { ["least-allocated"] = 1, ["spread"] = -1 } };

        var error = Assert.Throws<ArgumentException>(() => Scheduler.CreateDefault(options));

        Assert.Equal("options", error.ParamName);
        Assert.StartsWith("scheduler scorer \"spread\" has weight -1; weights are 0 (off) or positive", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void A_weight_that_is_not_a_finite_number_is_refused(double weight)
    {
        var options = new SchedulerOptions { Scorers = new Dictionary<string, double> { ["spread"] = weight } };

        var error = Assert.Throws<ArgumentException>(() => Scheduler.CreateDefault(options));

        Assert.Equal("options", error.ParamName);
        Assert.Contains("scheduler scorer \"spread\" has weight ", error.Message, StringComparison.Ordinal);
        Assert.Contains("; weights are 0 (off) or positive", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_scorer_weighted_zero_is_off()
    {
        var options = new SchedulerOptions { Scorers = new Dictionary<string, double> { ["least-allocated"] = 1, ["spread"] = 0 } };
        var snapshot = Snapshot([Node("node-1"), Node("node-2")], Bound("web-0", "node-1", owner: "service/web"));

        var decision = Scheduler.CreateDefault(options).Place(Request(cpu: "0", memory: "0"), snapshot, Now);

        // Without spread both nodes tie and the name decides.
        Assert.Equal("node-1", decision.Node);
        Assert.Equal(["least-allocated"], decision.Explanation.Chosen.Terms.Select(t => t.Scorer));
    }

    [Fact]
    public void A_placement_no_scorer_has_a_say_in_says_so()
    {
        // Only binpack's scorer is weighted, and the request spreads.
        var options = new SchedulerOptions { Scorers = new Dictionary<string, double> { ["most-allocated"] = 1 } };

        var decision = Scheduler.CreateDefault(options).Place(Request(), Snapshot(Node("node-1")), Now);

        Assert.Empty(decision.Explanation.Chosen.Terms);
        Assert.Equal("Scheduled on node-1: 1 of 1 nodes fit; scored 0 (no scorer applies); 3750m cpu, 8064Mi memory free after placing", decision.Explanation.Message);
    }

    [Fact]
    public void Filters_run_in_the_order_the_options_list_them_and_only_those()
    {
        var snapshot = Snapshot(Node("node-1", memory: "1Gi", cordoned: true));
        var request = Request(memory: "2Gi");

        var resourcesFirst = Scheduler.CreateDefault(new SchedulerOptions { Filters = ["resources", "node-ready", "host-ports"] });
        Assert.Equal("insufficient memory", Assert.Single(resourcesFirst.Place(request, snapshot, Now).Explanation.Rejected).Rule);

        var readyFirst = Scheduler.CreateDefault(new SchedulerOptions { Filters = ["node-ready", "resources", "host-ports"] });
        Assert.Equal("cordoned", Assert.Single(readyFirst.Place(request, snapshot, Now).Explanation.Rejected).Rule);

        var noReadiness = Scheduler.CreateDefault(new SchedulerOptions { Filters = ["driver", "host-ports"] });
        Assert.Equal("node-1", noReadiness.Place(request, snapshot, Now).Node);
    }

    private static ClusterSnapshot MixedFive() => Snapshot(
        Node("node-1", memory: "256Mi"),
        Node("node-2", memory: "1Gi"),
        Node("node-3", cordoned: true),
        Node("node-4", drivers: "process"),
        Node("node-5", memory: "512Mi"));

    [Fact]
    public void A_replica_no_node_fits_stays_pending_with_the_count_of_nodes_per_rule()
    {
        var decision = Default.Place(Request(memory: "2Gi"), MixedFive(), Now);

        Assert.False(decision.Placed);
        Assert.Null(decision.Node);
        Assert.Empty(decision.HostPorts);
        Assert.Equal("0/5 nodes fit: 3 insufficient memory, 1 cordoned, 1 missing driver docker", decision.Explanation.Message);
        Assert.Equal(
            [("insufficient memory", 3), ("cordoned", 1), ("missing driver docker", 1)],
            decision.Explanation.Rejected.Select(r => (r.Rule, r.Nodes)));
        Assert.Equal((5, 0), (decision.Explanation.NodesTotal, decision.Explanation.NodesFeasible));
        Assert.Null(decision.Explanation.Chosen);
        Assert.Empty(decision.Explanation.Alternatives);
        Assert.Equal(Now, decision.Explanation.DecidedAt.ToDateTimeOffset());
    }

    [Fact]
    public void A_cluster_without_nodes_says_no_node_has_registered()
    {
        var decision = Default.Place(Request(), Snapshot(), Now);

        Assert.Equal("0/0 nodes fit: no node has registered", decision.Explanation.Message);
    }

    [Fact]
    public void The_explanation_gives_the_chosen_score_its_terms_and_what_is_left()
    {
        // least-allocated: 25% of cpu and memory used after placing = 75; balanced 100; spread 100 (weight 2).
        // Total (75 + 100 + 2 x 100) / 4 = 93.75; shares: spread 50, balanced 25, least-allocated 18.75.
        var snapshot = Snapshot(Node("node-1", cpu: "4", memory: "8Gi"), Node("node-2", memory: "1Gi"));

        var decision = Default.Place(Request(cpu: "1", memory: "2Gi", ports: "http,admin"), snapshot, Now);

        Assert.Equal("node-1", decision.Node);
        Assert.Equal(new Dictionary<string, int> { ["http"] = 20000, ["admin"] = 20001 }, decision.HostPorts);
        var chosen = decision.Explanation.Chosen;
        Assert.Equal(("node-1", 93.75), (chosen.Node, chosen.Total));
        Assert.Equal(
            [("balanced", 100.0, 1.0), ("least-allocated", 75.0, 1.0), ("spread", 100.0, 2.0)],
            chosen.Terms.Select(t => (t.Scorer, t.Score, t.Weight)));
        Assert.Empty(decision.Explanation.Alternatives);
        Assert.Equal((2, 1), (decision.Explanation.NodesTotal, decision.Explanation.NodesFeasible));
        Assert.Equal(
            "Scheduled on node-1: 1 of 2 nodes fit; scored 93.8 (spread 50, balanced 25, least-allocated 18.8); 3 cpu, 6Gi memory free after placing; rejected 1 insufficient memory",
            decision.Explanation.Message);
    }

    [Fact]
    public void Binpack_and_spread_by_bring_their_own_scorers_into_the_explanation()
    {
        var snapshot = Snapshot(Node("node-1", labels: "zone=a"));

        var decision = Default.Place(Request(strategy: PlacementStrategy.Binpack, spreadBy: "zone"), snapshot, Now);

        Assert.Equal(["most-allocated", "topology-spread"], decision.Explanation.Chosen.Terms.Select(t => t.Scorer));
        Assert.Equal([1.0, 2.0], decision.Explanation.Chosen.Terms.Select(t => t.Weight));
    }

    [Fact]
    public void Alternatives_are_the_runners_up_best_first_as_many_as_the_options_keep()
    {
        var snapshot = Snapshot(
            [Node("node-1"), Node("node-2"), Node("node-3"), Node("node-4"), Node("node-5"), Node("node-6", memory: "64Mi")],
            Bound("db-1", "node-1", cpu: "3"),
            Bound("db-2", "node-2", cpu: "2"),
            Bound("db-3", "node-3", cpu: "1"),
            Bound("db-4", "node-4", cpu: "500m"));

        var decision = Default.Place(Request(), snapshot, Now);

        Assert.Equal("node-5", decision.Node);
        Assert.Equal(["node-4", "node-3", "node-2"], decision.Explanation.Alternatives.Select(a => a.Node));
        var totals = decision.Explanation.Alternatives.Select(a => a.Total).Prepend(decision.Explanation.Chosen.Total).ToList();
        Assert.Equal(totals.OrderDescending(), totals);
        Assert.True(totals[0] > totals[1]);

        var one = Scheduler.CreateDefault(new SchedulerOptions { Alternatives = 1 }).Place(Request(), snapshot, Now);
        Assert.Equal(["node-4"], one.Explanation.Alternatives.Select(a => a.Node));
        var none = Scheduler.CreateDefault(new SchedulerOptions { Alternatives = 0 }).Place(Request(), snapshot, Now);
        Assert.Equal(("node-5", 0), (none.Node, none.Explanation.Alternatives.Count));
    }

    [Fact]
    public void Placing_does_not_change_the_snapshot()
    {
        var snapshot = Snapshot(Node("node-1", ports: "20000-20001"));

        var first = Default.Place(Request(ports: "http"), snapshot, Now);
        var second = Default.Place(Request(ports: "http"), snapshot, Now);

        Assert.Equal(first.HostPorts, second.HostPorts);
        Assert.Equal((0, 2), (snapshot.NodeOf("node-1").CpuUsed, snapshot.NodeOf("node-1").FreePorts));
    }

    [Fact]
    public void Explain_gives_every_node_a_verdict_with_numbers()
    {
        var snapshot = Snapshot(
            [
                Node("node-1", cpu: "4", memory: "2Gi"),
                Node("node-2", memory: "2Gi"),
                Node("node-3", state: NodeState.NotReady, reason: "heartbeat missed for 12s"),
                Node("node-4", drivers: "process"),
                Node("node-5", ports: "20000-20000"),
                Node("node-6", labels: "zone=b"),
            ],
            Bound("db-1", "node-2", memory: "1932735283"),
            Bound("db-2", "node-5", ports: "pg=20000"));

        var (decision, verdicts) = Default.Explain(Request(cpu: "1", memory: "512Mi", ports: "http", constraints: "zone != b"), snapshot, Now);

        Assert.Equal("node-1", decision.Node);
        Assert.Equal(
            [
                ("node-1", null, "balanced 100: cpu 25% and memory 25% used after placing; least-allocated 75: 3 of 4 cpu and 1536Mi of 2Gi memory free after placing; spread 100: no replica of service/web here yet"),
                ("node-2", "insufficient memory", "memory 1.8Gi of 2Gi used, needs 512Mi"),
                ("node-3", "not ready", "node is NotReady: heartbeat missed for 12s"),
                ("node-4", "missing driver docker", "offers process, needs docker"),
                ("node-5", "no free host port", "0 of 1 host ports free (20000-20000), needs 1"),
                ("node-6", "not matching zone != b", "label zone is b, needs zone != b"),
            ],
            verdicts.Select(v => (v.Node, v.Rule, v.Detail)));
        Assert.Equal(decision.Explanation.Chosen, verdicts[0].Score);
        Assert.All(verdicts.Skip(1), v => Assert.Null(v.Score));
    }

    [Fact]
    public void Explain_agrees_with_place_on_every_node()
    {
        var snapshot = Snapshot(
            [
                Node("node-1", cpu: "2", memory: "2Gi", labels: "zone=a"),
                Node("node-2", cpu: "4", memory: "8Gi", labels: "zone=b"),
                Node("node-3", cpu: "8", memory: "4Gi", labels: "zone=a"),
                Node("node-4", cordoned: true, labels: "zone=b"),
                Node("node-5", memory: "256Mi", labels: "zone=c"),
                Node("node-6", cpu: "4", memory: "8Gi", labels: "zone=c"),
                Node("node-7", cpu: "4", memory: "8Gi"),
            ],
            Bound("web-a", "node-2", owner: "service/web", cpu: "500m", memory: "512Mi"),
            Bound("web-b", "node-6", owner: "service/web", cpu: "1", memory: "1Gi"),
            Bound("db-1", "node-3", cpu: "2", memory: "3Gi"));
        var request = Request(cpu: "500m", memory: "512Mi", constraints: "zone in (a, b, c)", spreadBy: "zone", maxPerNode: 2);

        var (decision, verdicts) = Default.Explain(request, snapshot, Now);

        Assert.Equal(snapshot.Nodes.Select(n => n.Name), verdicts.Select(v => v.Node));
        Assert.Equal(decision.Explanation.NodesFeasible, verdicts.Count(v => v.Fits));
        Assert.Equal(
            decision.Explanation.Rejected.Select(r => (r.Rule, r.Nodes)).Order(),
            verdicts.Where(v => !v.Fits).GroupBy(v => v.Rule!).Select(g => (g.Key, g.Count())).Order());
        var chosen = Assert.Single(verdicts, v => v.Node == decision.Node);
        Assert.Equal(decision.Explanation.Chosen, chosen.Score);
        Assert.All(verdicts.Where(v => v.Fits), v => Assert.True(v.Score!.Total <= chosen.Score!.Total, $"{v.Node} scored {v.Score.Total}, above {chosen.Score.Total}"));
        Assert.All(decision.Explanation.Alternatives, a => Assert.Equal(a, verdicts.Single(v => v.Node == a.Node).Score));
        Assert.Equal(3, decision.Explanation.Alternatives.Count);
    }
}
