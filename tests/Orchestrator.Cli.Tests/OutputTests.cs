using Google.Protobuf.WellKnownTypes;
using Orchestrator.Cli.Commands;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;
using static Orchestrator.Cli.Tests.Samples;

namespace Orchestrator.Cli.Tests;

public sealed class OutputTests
{
    private static async Task<string> RenderAsync(KindInfo kind, IReadOnlyList<V1.Object> items, string format, bool single = false)
    {
        using var console = new TestConsole();
        await GetCommand.WriteAsync(console, kind, items, format, single, Now);
        return console.Stdout;
    }

    [Fact]
    public async Task Services_table_shows_ready_over_desired_revision_workload_ports_and_age()
    {
        Golden.Assert("get-services.txt", await RenderAsync(ObjectKinds.Service, [Wrap(Web()), Wrap(Api())], "table"));
    }

    [Fact]
    public async Task Jobs_table_shows_succeeded_over_completions_and_state()
    {
        Golden.Assert("get-jobs.txt", await RenderAsync(ObjectKinds.Job, [Wrap(Report())], "table"));
    }

    [Fact]
    public async Task Nodes_table_shows_state_cordon_allocation_and_heartbeat_age()
    {
        var draining = Node("node-3", "127.0.0.4", NodeState.Ready, cordoned: true, TimeSpan.FromSeconds(1));
        draining.Spec.Draining = true;
        var drained = Node("node-4", "127.0.0.5", NodeState.Ready, cordoned: true, TimeSpan.FromSeconds(1));
        drained.Spec.Draining = true;
        drained.Status.DrainCompletedAt = Samples.Ago(TimeSpan.FromSeconds(5));
        Golden.Assert("get-nodes.txt", await RenderAsync(ObjectKinds.Node,
        [
            Wrap(Node("node-1", "127.0.0.2", NodeState.Ready, cordoned: false, TimeSpan.FromSeconds(2))),
            Wrap(Node("node-2", "127.0.0.3", NodeState.NotReady, cordoned: true, TimeSpan.FromSeconds(48))),
            Wrap(draining),
            Wrap(drained),
        ], "table"));
    }

    [Fact]
    public async Task Replicas_table_shows_the_scheduler_reason_for_a_pending_replica()
    {
        Golden.Assert("get-replicas.txt", await RenderAsync(ObjectKinds.Replica, [Wrap(Running("web-7f3k2", "node-1", 20001)), Wrap(Pending("web-q8d1z"))], "table"));
    }

    [Fact]
    public async Task Events_table_shows_age_object_type_reason_and_message()
    {
        Golden.Assert("get-events.txt", await RenderAsync(ObjectKinds.Event, [Wrap(Scheduled()), Wrap(Unhealthy())], "table"));
    }

    [Fact]
    public async Task Endpoints_table_has_one_row_per_port()
    {
        Golden.Assert("get-endpoints.txt", await RenderAsync(ObjectKinds.Endpoints, [Wrap(WebEndpoints())], "table"));
    }

    [Fact]
    public void Describe_node_shows_the_endpoints_version_its_agent_acknowledged()
    {
        var node = new Node { Meta = new ObjectMeta { Name = "node-1" }, Info = new NodeInfo { Address = "127.0.0.2" }, Status = new NodeStatus { State = NodeState.Ready, EndpointsAckedVersion = 57 } };

        var text = Describer.Describe(Wrap(node), new DescribeExtras([], [], []), Now);

        Assert.Contains("version 57 applied (acknowledged by the agent)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Endpoints_row_counts_what_it_does_not_list()
    {
        var e = WebEndpoints();
        for (var i = 0; i < 8; i++)
        {
            e.Ports[0].Endpoints.Add(new ReplicaEndpoint { Replica = $"web-{i:00000}", Node = "node-3", Endpoint = new Endpoint { Address = "127.0.0.4", Port = 21000 + i } });
        }

        var row = Assert.Single(ObjectTables.EndpointsRows(e, Now));

        Assert.Equal("127.0.0.2:20001,127.0.0.3:20004,127.0.0.4:21000 +7 more", row[4]);
        Assert.Equal("41", row[5]);
        Assert.Equal("95s", row[6]);
    }

    [Fact]
    public void Endpoints_never_written_with_a_change_time_show_no_age_and_describe_shows_when_they_changed()
    {
        var e = WebEndpoints();
        var described = Describer.Describe(Wrap(e), new DescribeExtras([], [], []), Now);
        e.ChangedAt = null;

        Assert.Equal("<none>", Assert.Single(ObjectTables.EndpointsRows(e, Now))[6]);
        Assert.Contains("2026-01-15 11:58:25 UTC (95s ago)", described, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Control_planes_table_shows_address_role_how_long_in_the_role_and_age()
    {
        var leader = new ControlPlaneMember { Id = "cp-2", ApiAddress = "http://10.0.0.2:7070", Leader = true, Since = Timestamp.FromDateTimeOffset(Now.AddSeconds(-42)), Started = Timestamp.FromDateTimeOffset(Now.AddHours(-3)), TermRevision = 118 };
        var follower = new ControlPlaneMember { Id = "cp-1", ApiAddress = "http://10.0.0.1:7070", Since = Timestamp.FromDateTimeOffset(Now.AddMinutes(-5)), Started = Timestamp.FromDateTimeOffset(Now.AddDays(-2)) };
        Golden.Assert("get-controlplanes.txt", await RenderAsync(ObjectKinds.ControlPlane, [new V1.Object { ControlPlane = follower }, new V1.Object { ControlPlane = leader }], "table"));
    }

    [Fact]
    public void Version_names_the_leader_from_any_control_plane()
    {
        var follower = new VersionResponse { Version = "0.1.0", Commit = "abc1234", Store = "etcd://127.0.0.1:2379", StoreRevision = 120, MemberId = "cp-1", LeaderId = "cp-2", LeaderAddress = "http://10.0.0.2:7070", LeaderSince = Timestamp.FromDateTimeOffset(Now), LeaderTermRevision = 118 };
        var lines = VersionCommand.FormatServer(follower, new Uri("http://10.0.0.1:7070")).Split(Environment.NewLine);
        Assert.Equal("  Member: cp-1 (follower)", lines[2]);
        Assert.Equal("  Leader: cp-2 at http://10.0.0.2:7070 since 2026-01-15 12:00:00Z, term revision 118", lines[3]);

        var electing = new VersionResponse { Version = "0.1.0", MemberId = "cp-1" };
        Assert.Contains("  Leader: none right now", VersionCommand.FormatServer(electing, new Uri("http://10.0.0.1:7070")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_of_one_object_is_the_object_itself_in_protobuf_json()
    {
        var json = await RenderAsync(ObjectKinds.Service, [Wrap(Web())], "json", single: true);
        Golden.Assert("get-service-web.json", json);
        var parsed = Google.Protobuf.JsonParser.Default.Parse<Service>(json);
        Assert.Equal(Web(), parsed);
    }

    [Fact]
    public async Task Json_of_a_list_wraps_the_objects_in_items()
    {
        Golden.Assert("get-nodes.json", await RenderAsync(ObjectKinds.Node, [Wrap(Node("node-1", "127.0.0.2", NodeState.Ready, false, TimeSpan.FromSeconds(2)))], "json"));
    }

    [Fact]
    public async Task Json_of_an_empty_list_is_an_empty_items_array()
    {
        var json = await RenderAsync(ObjectKinds.Service, [], "json");
        Assert.Equal("{\n  \"items\": []\n}\n", json.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Watch_json_is_one_line_per_event_with_type_kind_and_object()
    {
        var line = JsonOutput.FormatWatchEvent(new WatchEvent { Type = WatchEventType.Modified, Revision = 12, Object = Wrap(Api()) }, "service");
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("{\"type\":\"MODIFIED\",\"kind\":\"service\",\"revision\":12,\"object\":{\"meta\":{\"name\":\"api\"", line);
    }

    [Fact]
    public void Describe_service_shows_spec_status_strategy_revisions_replicas_and_events()
    {
        var extras = new DescribeExtras(
            [Revision(1, "nginx:1.26", TimeSpan.FromMinutes(42), "apply"), Revision(2, "nginx:1.27", TimeSpan.FromMinutes(8), "apply")],
            [Running("web-7f3k2", "node-1", 20001), Pending("web-q8d1z")],
            [Scheduled()]);
        Golden.Assert("describe-service-web.txt", Describer.Describe(Wrap(Web()), extras, Now));
    }

    [Fact]
    public void Describe_replica_explains_its_placement()
    {
        Golden.Assert("describe-replica.txt", Describer.Describe(Wrap(Running("web-7f3k2", "node-1", 20001)), new DescribeExtras([], [], [Unhealthy()]), Now));
    }

    [Fact]
    public void Describe_node_shows_resources_with_allocation_percentages()
    {
        var text = Describer.Describe(Wrap(Node("node-1", "127.0.0.2", NodeState.Ready, false, TimeSpan.FromSeconds(2))), DescribeExtras.None, Now);
        Assert.Contains("  Allocated:      cpu 750m, memory 384Mi (37% cpu, 9% memory)", text);
        Assert.Contains("Replicas:", text);
    }

    [Fact]
    public void Rollout_history_lists_revisions_with_cause_age_and_image()
    {
        using var console = new TestConsole();
        RolloutCommand.WriteHistory(console, [Revision(1, "nginx:1.26", TimeSpan.FromHours(2), "apply"), Revision(2, "nginx:1.27", TimeSpan.FromMinutes(8), "rollback to 1")], Now);
        Golden.Assert("rollout-history.txt", console.Stdout);
    }

    [Fact]
    public void A_process_port_without_a_container_port_is_shown_by_name()
    {
        Assert.Equal("8081->http/http,metrics/tcp", Humanize.Ports(
        [
            new PortSpec { Name = "http", Published = 8081, Protocol = Protocol.Http },
            new PortSpec { Name = "metrics", Protocol = Protocol.Tcp },
        ]));
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(45, "45s")]
    [InlineData(119, "119s")]
    [InlineData(200, "3m20s")]
    [InlineData(45 * 60, "45m")]
    [InlineData(3 * 3600 + 20 * 60, "3h20m")]
    [InlineData(23 * 3600, "23h")]
    [InlineData(3 * 86400 + 4 * 3600, "3d4h")]
    [InlineData(123 * 86400, "123d")]
    [InlineData(800 * 86400, "2y")]
    public void Ages_are_precise_when_young_and_coarse_when_old(int seconds, string expected)
    {
        Assert.Equal(expected, Humanize.Duration(TimeSpan.FromSeconds(seconds)));
    }

    [Theory]
    [InlineData(250, "250m")]
    [InlineData(1000, "1")]
    [InlineData(1500, "1500m")]
    public void Cpu_is_printed_in_kubernetes_notation(long millis, string expected)
    {
        Assert.Equal(expected, Humanize.Cpu(millis));
    }

    [Theory]
    [InlineData(128L * 1024 * 1024, "128Mi")]
    [InlineData(1024L * 1024 * 1024, "1Gi")]
    [InlineData(1001, "1001")]
    [InlineData(0, "0")]
    [InlineData(24421952L * 1024, "23.3Gi")]
    [InlineData(1234567, "1.2Mi")]
    [InlineData(500L * 1024 * 1024 * 1024 + 7, "500Gi")]
    public void Memory_is_printed_in_binary_units(long bytes, string expected)
    {
        Assert.Equal(expected, Humanize.Memory(bytes));
    }

    [Fact]
    public void A_replica_waiting_to_be_restarted_shows_when_the_next_try_is()
    {
        var now = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = "web-1", CreatedAt = Timestamp.FromDateTimeOffset(now.AddMinutes(-1)) },
            Spec = new ReplicaSpec { Node = "node-1", Owner = new OwnerRef { Kind = "service", Name = "web" } },
            Status = new ReplicaStatus
            {
                Phase = Phase.Failed,
                Reason = "CrashLoopBackOff",
                Restarts = 4,
                NextRetryAt = Timestamp.FromDateTimeOffset(now.AddMilliseconds(3500)),
            },
        };

        Assert.Equal("CrashLoopBackOff, retry in 4s", ObjectTables.ReplicaRow(replica, now)[^1]);
        Assert.Equal("CrashLoopBackOff", ObjectTables.ReplicaRow(replica, now.AddSeconds(5))[^1]);
    }
}
