using System.Text;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>The binding writer stores exactly the bytes protobuf JSON would, or leaves the replica to it.</summary>
public sealed class BindingWriterTests
{
    private const long Mi = 1024 * 1024;
    private static readonly Timestamp At = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 24, 1, 30, 0, TimeSpan.Zero).AddTicks(1234567));

    public static TheoryData<string> Timestamps => ["2026-11-24T01:30:00Z", "2026-11-24T01:30:00.5Z", "2026-11-24T01:30:00.123Z", "2026-11-24T01:30:00.123456Z", "2026-11-24T01:30:00.1234567Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z"];

    [Fact]
    public void A_bound_service_replica_is_written_as_protobuf_json_writes_it()
    {
        var pending = Pending("web-7f3k2");
        var decision = Decide(pending);
        AssertSame(pending, decision.Node, decision.Ports, decision.Explanation, null, At);
    }

    [Fact]
    public void Every_field_the_writer_knows_is_written_as_protobuf_json_writes_it()
    {
        var pending = Pending("job-1");
        pending.Meta.Uid = "c0ffee";
        pending.Meta.Generation = 7;
        pending.Meta.ResourceVersion = 99;
        pending.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch);
        pending.Meta.Labels["app"] = "web";
        pending.Meta.Labels["tier"] = "front end";
        pending.Spec.Desired = DesiredState.Drain;
        pending.Spec.Generation = 41;
        pending.Spec.Ordinal = 3;
        pending.Spec.HostPorts["stale"] = 1;
        pending.Spec.Template.Env["GREETING"] = "h\u00e9llo <world> \"quoted\"";
        pending.Spec.Template.Command.Add("sh");
        pending.Status = new ReplicaStatus { Phase = Phase.Pending };
        var status = new ReplicaStatus
        {
            Phase = Phase.Pending,
            Reason = "Unschedulable",
            Message = "0/3 nodes fit",
            ExitCode = -1,
            Restarts = 2,
            StartedAt = At,
            ReadyAt = At,
            FinishedAt = At,
            NextRetryAt = At,
            LastTransitionAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch),
            ObservedGeneration = 40,
        };
        var explanation = new PlacementExplanation
        {
            DecidedAt = At,
            NodesTotal = 5000,
            NodesFeasible = 1,
            NodesEvaluated = 5000,
            Message = "Scheduled on node-2: 1 of 5000 nodes fit; rejected 4999 not matching zone == a",
            Chosen = new NodeScore { Node = "node-2", Total = 1e-7, Terms = { new ScoreTerm { Scorer = "spread", Score = 1e21, Weight = 0.1 } } },
        };
        explanation.Rejected.Add(new RuleCount { Rule = "not matching zone == a", Nodes = 4999 });
        explanation.Alternatives.Add(new NodeScore { Node = "node-3" });
        explanation.Alternatives.Add(new NodeScore { Node = "node-4", Total = 33.33, Terms = { new ScoreTerm { Scorer = "balanced", Score = 66.67, Weight = 1 }, new ScoreTerm { Scorer = "least-allocated" } } });
        var ports = new Dictionary<string, int> { ["http"] = 20000, ["admin"] = 20999, ["metrics"] = 0 };
        AssertSame(pending, "node-2", ports, explanation, status, At);
    }

    [Fact]
    public void A_replica_with_almost_nothing_set_is_written_as_protobuf_json_writes_it()
    {
        var bare = new Replica { Spec = new ReplicaSpec() };
        var explanation = new PlacementExplanation { Message = "" };
        AssertSame(bare, "n", new Dictionary<string, int>(), explanation, null, At);
        AssertSame(bare, "n", new Dictionary<string, int>(), explanation, new ReplicaStatus(), At);
    }

    [Theory]
    [MemberData(nameof(Timestamps))]
    public void Timestamps_are_written_with_the_digits_protobuf_json_gives_them(string at)
    {
        var time = Timestamp.FromDateTimeOffset(DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture));
        var pending = Pending("r1");
        pending.Meta.CreatedAt = time;
        var decision = Decide(pending);
        decision.Explanation.DecidedAt = time;
        AssertSame(pending, decision.Node, decision.Ports, decision.Explanation, null, time);
    }

    [Theory]
    [InlineData("caf\u00e9")]
    [InlineData("a \"quote\"")]
    [InlineData("back\\slash")]
    [InlineData("<b>")]
    [InlineData("line\nbreak")]
    [InlineData("\u2028")]
    public void Text_the_formatter_escapes_is_left_to_it(string text)
    {
        var writer = new BindingWriter();
        var pending = Pending("r1");
        var decision = Decide(pending);
        pending.Meta.Labels["note"] = text;
        Assert.Null(writer.TryWrite(pending, decision.Node, decision.Ports, At));
        decision.Explanation.Message = text;
        Assert.Null(writer.TryWriteScheduled(null, decision.Explanation, At));
    }

    [Fact]
    public void Values_the_formatter_writes_its_own_way_are_left_to_it()
    {
        var writer = new BindingWriter();
        var pending = Pending("r1");
        var decision = Decide(pending);
        decision.Explanation.Chosen.Total = double.NaN;
        Assert.Null(writer.TryWriteScheduled(null, decision.Explanation, At));
        decision.Explanation.Chosen.Total = -0.0;
        Assert.Null(writer.TryWriteScheduled(null, decision.Explanation, At));
        decision.Explanation.Chosen.Total = 1;

        var withEndpoints = new ReplicaStatus();
        withEndpoints.Endpoints["http"] = new Endpoint { Address = "127.0.0.1", Port = 20000 };
        Assert.Null(writer.TryWriteScheduled(withEndpoints, decision.Explanation, At));

        pending.Spec.Desired = (DesiredState)42;
        Assert.Null(writer.TryWrite(pending, decision.Node, decision.Ports, At));
    }

    [Fact]
    public void A_template_changed_in_place_would_be_stale_so_each_template_object_is_written_once_as_it_was()
    {
        // The writer keeps each template's JSON by object: the loop never changes a template it
        // shares, and a second template object with other content gets its own JSON.
        var writer = new BindingWriter();
        var first = Pending("r1");
        var second = Pending("r2");
        second.Spec.Template.Image = "nginx:1.28";
        var decision = Decide(first);
        var a = Encoding.UTF8.GetString(writer.TryWrite(first, decision.Node, decision.Ports, At)!);
        var b = Encoding.UTF8.GetString(writer.TryWrite(second, decision.Node, decision.Ports, At)!);
        Assert.Contains("nginx:1.27", a, StringComparison.Ordinal);
        Assert.Contains("nginx:1.28", b, StringComparison.Ordinal);
    }

    /// <summary>
    /// The writer writes these messages field by field. A field added to one of them must be
    /// taught to <see cref="BindingWriter"/> (or make it fall back) before this list changes.
    /// </summary>
    [Fact]
    public void The_writer_knows_every_field_of_the_messages_it_writes()
    {
        Assert.Equal("meta spec status", Fields(Replica.Descriptor));
        Assert.Equal("name uid generation resource_version created_at updated_at labels", Fields(ObjectMeta.Descriptor));
        Assert.Equal("owner revision template node desired generation host_ports ordinal", Fields(ReplicaSpec.Descriptor));
        Assert.Equal("kind name", Fields(OwnerRef.Descriptor));
        Assert.Equal("phase reason message exit_code restarts endpoints started_at ready_at finished_at next_retry_at last_transition_at placement observed_generation", Fields(ReplicaStatus.Descriptor));
        Assert.Equal("decided_at nodes_total nodes_feasible rejected chosen alternatives message nodes_evaluated", Fields(PlacementExplanation.Descriptor));
        Assert.Equal("node total terms", Fields(NodeScore.Descriptor));
        Assert.Equal("scorer score weight", Fields(ScoreTerm.Descriptor));
        Assert.Equal("rule nodes", Fields(RuleCount.Descriptor));
    }

    private static string Fields(MessageDescriptor descriptor) =>
        string.Join(" ", descriptor.Fields.InFieldNumberOrder().Select(f => f.Name));

    private static void AssertSame(Replica pending, string node, IReadOnlyDictionary<string, int> ports, PlacementExplanation explanation, ReplicaStatus? status, Timestamp at)
    {
        var writer = new BindingWriter();
        var before = pending.Clone();
        var spec = writer.TryWrite(pending, node, ports, at);
        Assert.NotNull(spec);
        Assert.Equal(ProtoJson.Format(BindingWriter.Bound(pending, node, ports, at)), Encoding.UTF8.GetString(spec));
        Assert.Equal(ProtoJson.Encode(BindingWriter.Bound(pending, node, ports, at)), spec);
        var written = writer.TryWriteScheduled(status, explanation, at);
        Assert.NotNull(written);
        Assert.Equal(ProtoJson.Format(BindingWriter.Scheduled(status, explanation, at)), Encoding.UTF8.GetString(written));

        // Written twice with the same writer (its buffer and template cache reused): the same bytes.
        Assert.Equal(spec, writer.TryWrite(pending, node, ports, at));
        Assert.Equal(written, writer.TryWriteScheduled(status, explanation, at));

        // What is written reads back as the bound replica, and the pending one is left as it was.
        Assert.Equal(BindingWriter.Bound(pending, node, ports, at), ProtoJson.Decode<Replica>(spec, "/orc/replicas/x"));
        Assert.Equal(before, pending);
    }

    private static Replica Pending(string id)
    {
        var template = new ReplicaTemplate
        {
            Driver = Driver.Docker,
            Image = "nginx:1.27",
            Resources = new Resources { CpuMillis = 100, MemoryBytes = 128 * Mi },
            Placement = new Placement { Strategy = PlacementStrategy.Spread, SpreadBy = "zone" },
        };
        template.Ports.Add(new PortSpec { Name = "http", Port = 80 });
        return new Replica
        {
            Meta = new ObjectMeta { Name = id, CreatedAt = At },
            Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Revision = 1, Template = template, Desired = DesiredState.Run },
        };
    }

    /// <summary>A real decision on a small cluster, so the explanation has what the scheduler puts in it.</summary>
    private static (string Node, IReadOnlyDictionary<string, int> Ports, PlacementExplanation Explanation) Decide(Replica pending)
    {
        var nodes = Enumerable.Range(1, 6).Select(i =>
        {
            var info = new NodeInfo
            {
                Address = "127.0.0.1",
                Allocatable = new Resources { CpuMillis = i == 6 ? 50 : 4000, MemoryBytes = 16384 * Mi },
                Ports = new PortRange { First = 20000, Last = 20999 },
                Drivers = { Driver.Docker },
            };
            info.Labels["zone"] = i % 2 == 0 ? "a" : "b";
            return new Node { Meta = new ObjectMeta { Name = $"node-{i}" }, Info = info, Spec = new NodeSpec(), Status = new NodeStatus { State = i == 5 ? NodeState.NotReady : NodeState.Ready } };
        });
        var snapshot = ClusterSnapshot.Build(nodes, []);
        var decision = Scheduler.CreateDefault().Place(new PlacementRequest(pending.Meta?.Name ?? "x", pending.Spec.Owner, pending.Spec.Template), snapshot, At.ToDateTimeOffset());
        Assert.True(decision.Placed);
        Assert.NotEmpty(decision.Explanation.Rejected);
        Assert.NotEmpty(decision.Explanation.Alternatives);
        return (decision.Node!, decision.HostPorts, decision.Explanation);
    }
}
