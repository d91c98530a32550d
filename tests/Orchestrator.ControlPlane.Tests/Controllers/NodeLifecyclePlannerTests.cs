using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Tests.Scheduling;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

public sealed class NodeLifecyclePlannerTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    private static readonly NodeLifecycleOptions Options = new();

    private static ControlPlaneView JudgingSince(DateTimeOffset at) => new(at, Grace);

    private static NodeObservation Live(string name) => new(name, true, null);

    private static NodeObservation Silent(string name, DateTimeOffset since, Silence silence = Silence.LeaseExpired) => new(name, false, since, silence);

    private static Replica Replica(string id, string node, Phase phase = Phase.Running, DesiredState desired = DesiredState.Run) => new()
    {
        Meta = new ObjectMeta { Name = id },
        Spec = new ReplicaSpec { Node = node, Desired = desired, Generation = 1 },
        Status = new ReplicaStatus { Phase = phase },
    };

    [Fact]
    public void A_node_whose_lease_expired_is_lost_at_once_and_the_message_counts_from_its_last_heartbeat()
    {
        var now = Start.AddMinutes(5);
        var decision = NodeLifecyclePlanner.Judge([Live("node-1"), Silent("node-2", now.AddMilliseconds(-100)), Live("node-3")], now, JudgingSince(Start), Options);

        var lost = Assert.Single(decision.Lost);
        Assert.Equal("node-2", lost.Node);
        Assert.Equal("node node-2 stopped sending heartbeats 3.1s ago (grace 3.0s)", lost.Message);
        Assert.Null(decision.MassSilence);
    }

    [Fact]
    public void A_node_whose_stream_ended_gets_the_grace_to_reconnect()
    {
        var seen = Start.AddMinutes(5);
        var nodes = new[] { Live("node-1"), Silent("node-2", seen, Silence.Disconnected), Live("node-3") };

        var before = NodeLifecyclePlanner.Judge(nodes, seen + Grace - TimeSpan.FromMilliseconds(1), JudgingSince(Start), Options);
        var after = NodeLifecyclePlanner.Judge(nodes, seen + Grace, JudgingSince(Start), Options);

        Assert.Equal(new NodeSilent("node-2", seen + Grace), before.Verdicts.Single(v => v.Node == "node-2"));
        Assert.Equal(seen + Grace, before.NextCheckAt);
        Assert.Equal("node-2", Assert.Single(after.Lost).Node);
    }

    [Fact]
    public void A_node_whose_stream_ended_is_judged_from_its_last_heartbeat_on_that_stream()
    {
        var seen = Start.AddMinutes(5);
        var heard = seen - TimeSpan.FromMilliseconds(800);
        var nodes = new[] { Live("node-1"), new NodeObservation("node-2", false, seen, Silence.Disconnected, heard), Live("node-3") };

        var before = NodeLifecyclePlanner.Judge(nodes, heard + Grace - TimeSpan.FromMilliseconds(1), JudgingSince(Start), Options);
        var after = NodeLifecyclePlanner.Judge(nodes, heard + Grace, JudgingSince(Start), Options);

        Assert.Equal(new NodeSilent("node-2", heard + Grace), before.Verdicts.Single(v => v.Node == "node-2"));
        var lost = Assert.Single(after.Lost);
        Assert.Equal("node node-2 stopped sending heartbeats 3.0s ago (grace 3.0s)", lost.Message);
    }

    [Theory]
    [InlineData(-800, -800)] // heard 0.8 s before it was seen gone: from then
    [InlineData(-10_000, -3_000)] // a stale or skewed record: never more than a grace before it was seen gone
    [InlineData(500, 0)] // "after" it was seen gone (another control plane's clock): from when it was seen gone
    public void The_last_heartbeat_of_an_ended_stream_counts_only_within_a_grace_before_it_was_seen_gone(int heardMs, int stoppedMs)
    {
        var seen = Start.AddMinutes(5);
        Assert.Equal(seen.AddMilliseconds(stoppedMs), NodeLifecyclePlanner.StoppedAt(seen.AddMilliseconds(heardMs), seen, Grace));
        Assert.Equal(seen, NodeLifecyclePlanner.StoppedAt(null, seen, Grace));
    }

    [Fact]
    public void A_control_plane_that_just_started_gives_every_node_a_fresh_grace()
    {
        // Silent since long before the start (an old status says so), but judged only from the start.
        var started = Start.AddMinutes(30);
        var nodes = new[] { Live("node-1"), Silent("node-2", started), Live("node-3") };

        var early = NodeLifecyclePlanner.Judge(nodes, started + Grace - TimeSpan.FromMilliseconds(1), JudgingSince(started), Options);
        var due = NodeLifecyclePlanner.Judge(nodes, started + Grace, JudgingSince(started), Options);

        Assert.Empty(early.Lost);
        Assert.IsType<NodeSilent>(early.Verdicts.Single(v => v.Node == "node-2"));
        Assert.Equal("node-2", Assert.Single(due.Lost).Node);
    }

    [Fact]
    public void A_pause_of_the_control_plane_restarts_the_grace_of_a_node_that_went_silent_during_it()
    {
        // The control plane froze from 10:05:00 to 10:05:20; node-2's lease expired meanwhile and is seen
        // gone just after the pause. Judging restarted at the resume, so node-2 waits a full grace more.
        var resumed = Start.AddMinutes(5).AddSeconds(20);
        var nodes = new[] { Live("node-1"), Silent("node-2", resumed), Live("node-3") };

        var decision = NodeLifecyclePlanner.Judge(nodes, resumed.AddSeconds(1), JudgingSince(resumed), Options);

        Assert.Empty(decision.Lost);
        Assert.Equal(resumed + Grace, decision.NextCheckAt);
    }

    [Theory]
    [InlineData(TimeSpan.TicksPerMillisecond * 500, false)]
    [InlineData(TimeSpan.TicksPerMillisecond * 2400, false)]
    [InlineData(TimeSpan.TicksPerMillisecond * 2500, true)]
    [InlineData(TimeSpan.TicksPerSecond * 40, true)]
    public void A_gap_in_the_control_planes_own_ticks_much_longer_than_its_interval_is_a_pause(long gapTicks, bool pause)
    {
        var gap = TimeSpan.FromTicks(gapTicks);

        Assert.Equal(pause ? gap : null, NodeLifecyclePlanner.Pause(gap, Options));
    }

    [Fact]
    public void When_most_nodes_go_silent_at_once_nothing_is_lost_and_the_reason_is_given()
    {
        var now = Start.AddMinutes(5);
        var nodes = new[] { Silent("node-1", now), Silent("node-2", now), Live("node-3") };

        var decision = NodeLifecyclePlanner.Judge(nodes, now, JudgingSince(Start), Options);

        Assert.Empty(decision.Lost);
        Assert.All(decision.Verdicts.Where(v => v.Node != "node-3"), v => Assert.IsType<NodeSpared>(v));
        Assert.Equal(
            "2 of 3 nodes are silent at once (node-1, node-2): more than 50% of the cluster, which points at this control plane or its network rather than at the nodes; " +
            "no replica is marked Lost while that lasts",
            decision.MassSilence);
        Assert.Empty(NodeLifecyclePlanner.Evictions(decision, [Replica("web-a", "node-1")]));
    }

    [Fact]
    public void Half_of_the_nodes_silent_is_not_a_mass_silence_and_the_threshold_is_an_option()
    {
        var now = Start.AddMinutes(5);
        var nodes = new[] { Silent("node-1", now), Live("node-2") };

        Assert.Equal("node-1", Assert.Single(NodeLifecyclePlanner.Judge(nodes, now, JudgingSince(Start), Options).Lost).Node);
        Assert.Empty(NodeLifecyclePlanner.Judge(nodes, now, JudgingSince(Start), new NodeLifecycleOptions { MassSilenceFraction = 0.4, MassSilenceMinNodes = 1 }).Lost);
    }

    [Fact]
    public void The_only_node_of_a_one_node_cluster_is_judged_like_any_other()
    {
        var now = Start.AddMinutes(5);

        Assert.Single(NodeLifecyclePlanner.Judge([Silent("node-1", now)], now, JudgingSince(Start), Options).Lost);
    }

    [Fact]
    public void Every_replica_on_a_lost_node_that_has_not_ended_is_marked_lost_and_nothing_else()
    {
        var now = Start.AddMinutes(5);
        var decision = NodeLifecyclePlanner.Judge([Live("node-1"), Silent("node-2", now), Live("node-3")], now, JudgingSince(Start), Options);
        Replica[] replicas =
        [
            Replica("web-a", "node-2", Phase.Ready),
            Replica("web-b", "node-2", Phase.Starting),
            Replica("web-c", "node-2", Phase.Running, DesiredState.Stop),
            Replica("web-d", "node-2", Phase.Succeeded),
            Replica("web-e", "node-2", Phase.Lost),
            Replica("web-f", "node-1", Phase.Ready),
            Replica("web-g", "", Phase.Pending),
            new() { Meta = new ObjectMeta { Name = "job-h" }, Spec = new ReplicaSpec { Node = "node-2" }, Status = new ReplicaStatus { Phase = Phase.Failed, NextRetryAt = Timestamp.FromDateTimeOffset(now) } },
        ];

        var marks = NodeLifecyclePlanner.Evictions(decision, replicas);

        Assert.Equal(["job-h", "web-a", "web-b", "web-c"], marks.Select(m => m.Id));
        Assert.All(marks, m => Assert.Equal("node-2", m.Node));
        Assert.Equal("node node-2 stopped sending heartbeats 3.0s ago (grace 3.0s); the replica is presumed gone with it", marks[0].Message);
    }

    [Fact]
    public void A_draining_node_counts_the_replicas_that_have_not_ended()
    {
        Node[] nodes =
        [
            new() { Meta = new ObjectMeta { Name = "node-1" }, Spec = new NodeSpec { Cordoned = true, Draining = true } },
            new() { Meta = new ObjectMeta { Name = "node-2" }, Spec = new NodeSpec { Cordoned = true } },
            new() { Meta = new ObjectMeta { Name = "node-3" }, Spec = new NodeSpec { Cordoned = true, Draining = true } },
        ];
        Replica[] replicas = [Replica("web-b", "node-1"), Replica("web-a", "node-1", Phase.Draining, DesiredState.Drain), Replica("web-c", "node-1", Phase.Succeeded), Replica("web-d", "node-2")];

        var drains = NodeLifecyclePlanner.Drains(nodes, replicas);

        Assert.Equal([new("node-1", 2, ["web-a", "web-b"]), new("node-3", 0, [])], drains, (a, b) => a.Node == b.Node && a.Remaining == b.Remaining && a.Replicas.SequenceEqual(b.Replicas));
    }

    /// <summary>Random clusters: nodes live or silent since random times, a random judging start and a random now.</summary>
    private static (List<NodeObservation> Nodes, DateTimeOffset Now, ControlPlaneView View) World(int seed)
    {
        var random = new Random(seed);
        var count = random.Next(1, 12);
        var judging = Start.AddSeconds(random.Next(0, 60));
        var now = judging.AddMilliseconds(random.Next(0, 10_000));
        var nodes = new List<NodeObservation>();
        for (var i = 0; i < count; i++)
        {
            nodes.Add(random.Next(3) == 0
                ? Live($"node-{i}")
                : Silent($"node-{i}", Max(judging, now.AddMilliseconds(-random.Next(0, 10_000))), random.Next(2) == 0 ? Silence.LeaseExpired : Silence.Disconnected));
        }

        return (nodes, now, JudgingSince(judging));
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;

    [Property(MaxTest = 500, Arbitrary = [typeof(ClusterSeeds)])]
    public void Never_evicts_when_more_than_half_of_the_nodes_are_silent(ClusterSeed seed)
    {
        var (nodes, now, view) = World(seed.Value);
        var silent = nodes.Count(n => !n.Live);

        var decision = NodeLifecyclePlanner.Judge(nodes, now, view, Options);

        if (silent >= 2 && silent * 2 > nodes.Count)
        {
            Assert.Empty(decision.Lost);
        }
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(ClusterSeeds)])]
    public void Never_evicts_before_a_full_grace_under_the_control_planes_eyes(ClusterSeed seed)
    {
        var (nodes, now, view) = World(seed.Value);

        var decision = NodeLifecyclePlanner.Judge(nodes, now, view, Options);

        Assert.True(decision.Lost.Any() == false || now - view.JudgingSince >= Grace, $"lost before {Grace} of judging: {now - view.JudgingSince}");
        foreach (var lost in decision.Lost)
        {
            var node = nodes.Single(n => n.Name == lost.Node);
            Assert.False(node.Live);
            var stopped = node.Silence == Silence.LeaseExpired ? node.SilentSince!.Value - Grace : node.SilentSince!.Value;
            Assert.True(now - stopped >= Grace, $"{lost.Node} lost after {now - stopped} of silence");
        }

        Assert.All(decision.Verdicts.OfType<NodeSilent>(), v => Assert.True(v.DueAt > now));
        Assert.Equal(nodes.Count, decision.Verdicts.Count);
    }
}
