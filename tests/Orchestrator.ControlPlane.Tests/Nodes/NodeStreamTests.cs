using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Leadership;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Tests.Controllers;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>
/// The control plane side of the node stream, through a real gRPC client (<see cref="FakeAgent"/>)
/// against an in-process control plane on a real SQLite store.
/// </summary>
public sealed class NodeStreamTests : IAsyncLifetime
{
    private NodeCluster? _cluster;

    private NodeCluster Cp => _cluster ?? throw new InvalidOperationException("not started");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _cluster = await NodeCluster.StartAsync(cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    public static TheoryData<string, string, StatusCode, string> BadRegistrations => new()
    {
        { "heartbeat-first", "", StatusCode.InvalidArgument, "the first message on the node stream must be Register, not Heartbeat" },
        { "version", "", StatusCode.FailedPrecondition, "node protocol version 0 is not supported; this control plane speaks version 1" },
        { "name", "", StatusCode.InvalidArgument, "node name \"Node_1\" is not a DNS label" },
        { "address", "", StatusCode.InvalidArgument, "node \"node-1\": the address is missing; pass --address" },
        { "drivers", "", StatusCode.InvalidArgument, "node \"node-1\": the node offers no driver" },
        { "capacity", "", StatusCode.InvalidArgument, "node \"node-1\": capacity cpu is 0m; it must be more than 0" },
        { "allocatable", "", StatusCode.InvalidArgument, "node \"node-1\": allocatable (8000m cpu" },
        { "ports", "", StatusCode.InvalidArgument, "node \"node-1\": port range 21000-20000 is empty; pass --ports FIRST-LAST with FIRST <= LAST" },
        { "running", "", StatusCode.InvalidArgument, "node \"node-1\": Register.running: a replica report has no replica_id" },
    };

    [Theory]
    [MemberData(nameof(BadRegistrations))]
    public async Task A_bad_first_message_ends_the_stream_with_what_to_fix_and_writes_nothing(string problem, string unused, StatusCode code, string expected)
    {
        _ = unused;
        var revision = await Cp.Store.GetRevisionAsync(Ct);
        var register = FakeAgent.Registration("node-1");
        var first = new AgentMessage { Register = register };
        switch (problem)
        {
            case "heartbeat-first": first = new AgentMessage { Heartbeat = new Heartbeat { Sequence = 1 } }; break;
            case "version": register.ProtocolVersion = NodeProtocolVersion.Unspecified; break;
            case "name": register.NodeName = "Node_1"; break;
            case "address": register.Info.Address = ""; break;
            case "drivers": register.Info.Drivers.Clear(); break;
            case "capacity": register.Info.Capacity.CpuMillis = 0; break;
            case "allocatable": register.Info.Allocatable.CpuMillis = 8000; break;
            case "ports": register.Info.Ports = new PortRange { First = 21000, Last = 20000 }; break;
            case "running": register.Running.Add(new ReplicaReport { Generation = 1, Status = new ReplicaStatus { Phase = Phase.Running } }); break;
            default: throw new ArgumentOutOfRangeException(nameof(problem), problem, null);
        }

        await using var agent = await FakeAgent.ConnectRawAsync(Cp.Channel, first, Ct);
        var status = await agent.EndedAsync(Ct);

        Assert.Equal(code, status.StatusCode);
        Assert.Contains(expected, status.Detail, StringComparison.Ordinal);
        Assert.Equal(revision, await Cp.Store.GetRevisionAsync(Ct));
        Assert.Empty((await Cp.Store.ListAsync(StoreKeys.NodesPrefix, cancellationToken: Ct)).Items);
        Assert.Empty((await Cp.Store.ListAsync(StoreKeys.NodeStatusPrefix, cancellationToken: Ct)).Items);
        Assert.Empty((await Cp.Store.ListAsync(StoreKeys.NodeLivenessPrefix, cancellationToken: Ct)).Items);
    }

    [Fact]
    public async Task A_registered_node_is_Ready_with_its_info_and_a_leased_liveness_key()
    {
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        var (registered, set) = await agent.HandshakeAsync(Ct);

        Assert.Equal(NodeProtocolVersion._1, registered.ProtocolVersion);
        Assert.Equal(NodeCluster.MemberId, registered.ControlPlaneId);
        Assert.Equal(1000, registered.HeartbeatIntervalMs);
        Assert.Empty(set.Assignments);

        var list = await Cp.Client.ListAsync(new ListRequest { Kind = ObjectKind.Node }, cancellationToken: Ct);
        var node = Assert.Single(list.Items).Node;
        Assert.Equal("node-1", node.Meta.Name);
        Assert.Equal(FakeAgent.Registration("node-1").Info, node.Info);
        Assert.Equal(NodeState.Ready, node.Status.State);
        Assert.Equal(NodeCluster.MemberId, node.Status.ConnectedTo);
        Assert.Equal(NodeCluster.Start, node.Status.LastHeartbeat.ToDateTimeOffset());

        var liveness = (await Cp.Store.GetAsync(StoreKeys.NodeLiveness("node-1"), cancellationToken: Ct)).Kv;
        Assert.NotNull(liveness);
        Assert.NotEqual(0, liveness.Lease);
    }

    [Fact]
    public async Task Registration_keeps_a_cordon_set_before()
    {
        await using (var first = await Cp.ConnectAsync("node-1", cancellationToken: Ct))
        {
            await first.HandshakeAsync(Ct);
            await first.CloseAsync();
            Assert.Equal(StatusCode.OK, (await first.EndedAsync(Ct)).StatusCode);
        }

        var stored = await Cp.Messages.GetAsync<Node>(StoreKeys.Node("node-1"), Ct);
        Assert.NotNull(stored);
        stored.Value.Spec.Cordoned = true;
        Assert.NotNull(await Cp.Messages.PutAsync(stored.Key, stored.Value, stored.ModRevision, cancellationToken: Ct));

        var register = FakeAgent.Registration("node-1");
        register.Info.Labels["zone"] = "b";
        await using var second = await Cp.ConnectAsync("node-1", register, Ct);
        await second.HandshakeAsync(Ct);

        var node = await Cp.GetNodeAsync("node-1", Ct);
        Assert.True(node.Spec.Cordoned);
        Assert.Equal("b", node.Info.Labels["zone"]);
        Assert.Equal(NodeState.Ready, node.Status.State);
    }

    [Fact]
    public async Task The_full_assignment_set_holds_the_replicas_bound_to_the_node_and_no_others()
    {
        await Cp.PutReplicaAsync("web-aaaa1", "node-1", cancellationToken: Ct);
        await Cp.PutReplicaAsync("web-aaaa2", "node-2", cancellationToken: Ct);
        await Cp.PutReplicaAsync("web-aaaa3", "", cancellationToken: Ct);
        await Cp.PutReplicaAsync("web-aaaa4", "node-1", generation: 3, cancellationToken: Ct);

        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        var (_, set) = await agent.HandshakeAsync(Ct);

        Assert.Equal(["web-aaaa1", "web-aaaa4"], set.Assignments.Select(a => a.Replica.Meta.Name).Order().ToArray());
        Assert.Equal(3, set.Assignments.Single(a => a.Replica.Meta.Name == "web-aaaa4").Replica.Spec.Generation);
        Assert.True(set.Revision > 0);

        var node = await Cp.GetNodeAsync("node-1", Ct);
        Assert.Equal(2, node.Status.Replicas);
        Assert.Equal(500, node.Status.Allocated.CpuMillis);
        Assert.Equal(256L << 20, node.Status.Allocated.MemoryBytes);
    }

    [Fact]
    public async Task Replicas_bound_changed_moved_and_deleted_after_connect_arrive_as_deltas()
    {
        await Cp.PutReplicaAsync("web-moved", "node-1", cancellationToken: Ct);
        await Cp.PutReplicaAsync("web-deleted", "node-1", cancellationToken: Ct);
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        var (_, set) = await agent.HandshakeAsync(Ct);
        Assert.Equal(2, set.Assignments.Count);

        var bound = await Cp.PutReplicaAsync("web-new", "node-1", cancellationToken: Ct);
        var delta = (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
        Assert.Equal("web-new", Assert.Single(delta.Upserted).Replica.Meta.Name);
        Assert.Empty(delta.Removed);
        Assert.Equal(bound, delta.Revision);

        // A replica bound elsewhere is none of this node's business.
        await Cp.PutReplicaAsync("web-other", "node-2", cancellationToken: Ct);

        await Cp.PutReplicaAsync("web-new", "node-1", generation: 2, cancellationToken: Ct);
        delta = (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
        Assert.Equal(2, Assert.Single(delta.Upserted).Replica.Spec.Generation);

        await Cp.PutReplicaAsync("web-moved", "node-2", generation: 2, cancellationToken: Ct);
        delta = (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
        Assert.Equal(["web-moved"], delta.Removed);
        Assert.Empty(delta.Upserted);

        await Cp.DeleteReplicaAsync("web-deleted", Ct);
        delta = (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
        Assert.Equal(["web-deleted"], delta.Removed);
    }

    [Fact]
    public async Task A_report_is_written_to_the_replica_status_and_keeps_the_placement_explanation()
    {
        await Cp.PutReplicaAsync("web-r1", "node-1", generation: 2, cancellationToken: Ct);
        var placement = new ReplicaStatus { Phase = Phase.Scheduled, Placement = new PlacementExplanation { NodesTotal = 3, Message = "chose node-1" } };
        Assert.NotNull(await Cp.Messages.PutAsync(StoreKeys.ReplicaStatus("web-r1"), placement, 0, cancellationToken: Ct));
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        var reported = new ReplicaStatus
        {
            Phase = Phase.Ready,
            Restarts = 1,
            Endpoints = { ["http"] = new Endpoint { Address = "127.0.0.2", Port = 20001 } },
            StartedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(NodeCluster.Start),
        };
        await agent.ReportAsync("web-r1", 2, reported, Ct);

        var replica = (await Cp.WaitForAsync(ObjectKind.Replica, "web-r1", o => o.Replica.Status?.Phase == Phase.Ready, Ct)).Replica;
        Assert.Equal(2, replica.Status.ObservedGeneration);
        Assert.Equal(1, replica.Status.Restarts);
        Assert.Equal(20001, replica.Status.Endpoints["http"].Port);
        Assert.Equal("chose node-1", replica.Status.Placement.Message);
        Assert.Equal(Phase.Ready, (await Cp.GetReplicaAsync("web-r1", Ct)).Status.Phase);
    }

    [Fact]
    public async Task A_report_for_an_older_generation_is_ignored()
    {
        await Cp.PutReplicaAsync("web-r1", "node-1", generation: 3, cancellationToken: Ct);
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        await agent.ReportAsync("web-r1", 2, new ReplicaStatus { Phase = Phase.Failed, ExitCode = 137 }, Ct);
        await agent.ReportAsync("web-r1", 3, new ReplicaStatus { Phase = Phase.Running }, Ct);

        // Reports are applied in order: once the second is visible, the first was decided.
        var replica = (await Cp.WaitForAsync(ObjectKind.Replica, "web-r1", o => o.Replica.Status?.Phase == Phase.Running, Ct)).Replica;
        Assert.Equal(3, replica.Status.ObservedGeneration);
        Assert.Equal(0, replica.Status.ExitCode);
        var history = await Cp.Store.ListAsync(StoreKeys.ReplicaStatus("web-r1"), cancellationToken: Ct);
        Assert.Equal(1, Assert.Single(history.Items).Version);
    }

    [Fact]
    public async Task A_report_for_a_replica_not_assigned_to_the_node_is_answered_with_its_removal()
    {
        await Cp.PutReplicaAsync("web-elsewhere", "node-2", cancellationToken: Ct);
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        await agent.ReportAsync("web-gone", 1, new ReplicaStatus { Phase = Phase.Running }, Ct);
        Assert.Equal(["web-gone"], (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta.Removed);
        await agent.ReportAsync("web-elsewhere", 1, new ReplicaStatus { Phase = Phase.Running }, Ct);
        Assert.Equal(["web-elsewhere"], (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta.Removed);

        Assert.Null((await Cp.Store.GetAsync(StoreKeys.ReplicaStatus("web-gone"), cancellationToken: Ct)).Kv);
        Assert.Null((await Cp.Store.GetAsync(StoreKeys.ReplicaStatus("web-elsewhere"), cancellationToken: Ct)).Kv);
    }

    [Fact]
    public async Task What_the_agent_runs_at_registration_becomes_replica_status()
    {
        await Cp.PutReplicaAsync("web-r1", "node-1", cancellationToken: Ct);
        var register = FakeAgent.Registration("node-1");
        register.Running.Add(new ReplicaReport { ReplicaId = "web-r1", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Ready } });
        register.Running.Add(new ReplicaReport { ReplicaId = "web-orphan", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Running } });

        await using var agent = await Cp.ConnectAsync("node-1", register, Ct);
        var (_, set) = await agent.HandshakeAsync(Ct);

        // The orphan is absent from the full set: the agent stops it.
        var assignment = Assert.Single(set.Assignments);
        Assert.Equal(Phase.Ready, assignment.Replica.Status.Phase);
        Assert.Equal(Phase.Ready, (await Cp.GetReplicaAsync("web-r1", Ct)).Status.Phase);
        Assert.Null((await Cp.Store.GetAsync(StoreKeys.ReplicaStatus("web-orphan"), cancellationToken: Ct)).Kv);
    }

    [Fact]
    public async Task A_malformed_message_ends_the_stream_with_a_clear_error_and_changes_nothing()
    {
        await Cp.PutReplicaAsync("web-r1", "node-1", cancellationToken: Ct);
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        await agent.SendAsync(new AgentMessage { Status = new ReplicaReport { ReplicaId = "web-r1", Generation = 1 } }, Ct);
        var status = await agent.EndedAsync(Ct);

        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("replica web-r1: the report has no status", status.Detail, StringComparison.Ordinal);
        Assert.Null((await Cp.Store.GetAsync(StoreKeys.ReplicaStatus("web-r1"), cancellationToken: Ct)).Kv);
    }

    [Fact]
    public async Task When_the_stream_ends_the_node_is_NotReady_with_the_reason_and_its_lease_is_gone()
    {
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        await agent.CloseAsync();
        Assert.Equal(StatusCode.OK, (await agent.EndedAsync(Ct)).StatusCode);

        var node = await Cp.GetNodeAsync("node-1", Ct);
        Assert.Equal(NodeState.NotReady, node.Status.State);
        Assert.Equal("AgentDisconnected", node.Status.Reason);
        Assert.Equal("the agent's stream ended at 10:02:00; replicas keep their last reported state until it reconnects", node.Status.Message);
        Assert.Equal(new DateTimeOffset(2026, 1, 15, 10, 2, 0, TimeSpan.Zero).TimeOfDay, node.Status.LastHeartbeat.ToDateTimeOffset().TimeOfDay);
        Assert.Null((await Cp.Store.GetAsync(StoreKeys.NodeLiveness("node-1"), cancellationToken: Ct)).Kv);
        Assert.Null(Cp.Sessions.Find("node-1"));
    }

    [Fact]
    public async Task An_agent_that_resets_its_stream_is_disconnected_without_an_error_logged()
    {
        var errors = new ErrorLog();
        await using var cp = await NodeCluster.StartAsync(cancellationToken: Ct, configure: b => b.Services.AddSingleton<ILoggerProvider>(errors));
        var agent = await cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        // Disposing cancels the call: the agent resets the stream, as a stopping orc-agent does.
        await agent.DisposeAsync();
        var node = (await cp.WaitForAsync(ObjectKind.Node, "node-1", o => o.Node.Status?.State == NodeState.NotReady, Ct)).Node;

        Assert.Equal("AgentDisconnected", node.Status.Reason);
        Assert.Empty(errors.Messages);
    }

    [Fact]
    public async Task When_the_lease_expires_without_a_clean_end_the_node_is_NotReady_because_heartbeats_stopped()
    {
        // Node liveness is leader-only: this control plane campaigns (the others here do not), and
        // its leader lease outlasts the clock's jumps, as nothing renews it between them.
        await using var cp = await NodeCluster.StartAsync(
            configure: b =>
            {
                b.Services.AddSingleton(new ControllerOptions());
                b.Services.AddSingleton(new LeaderElectionOptions { LeaseTtl = TimeSpan.FromHours(1) });
            },
            cancellationToken: Ct);
        await using var agent = await cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);
        Assert.Equal(NodeState.Ready, (await cp.GetNodeAsync("node-1", Ct)).Status.State);

        // The agent stays connected but sends no heartbeat past the grace (3s).
        cp.Time.Advance(TimeSpan.FromSeconds(4));

        var node = (await cp.WaitForAsync(ObjectKind.Node, "node-1", o => o.Node.Status?.State == NodeState.NotReady, Ct)).Node;
        Assert.Equal("HeartbeatsStopped", node.Status.Reason);
        Assert.Contains("no heartbeat renewed the node's lease for 3s", node.Status.Message, StringComparison.Ordinal);
        Assert.Null((await cp.Store.GetAsync(StoreKeys.NodeLiveness("node-1"), cancellationToken: Ct)).Kv);

        // The silent stream is closed, so a live agent reconnects into a fresh registration.
        var ended = await agent.EndedAsync(Ct);
        Assert.Equal(StatusCode.Unavailable, ended.StatusCode);
    }

    [Fact]
    public async Task Heartbeats_keep_the_lease_and_update_last_heartbeat_at_a_bounded_rate()
    {
        // A heartbeat is only written to the stream here, so the server may handle it after the
        // next tick of the fake clock. A grace of many heartbeats keeps that lag from letting
        // the lease lapse; an agent that stopped for the whole grace would still lose it.
        await using var cp = await NodeCluster.StartAsync(new NodeStreamOptions { NodeGrace = TimeSpan.FromSeconds(30) }, cancellationToken: Ct);
        await using var agent = await cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);
        var statusRevision = (await cp.Store.GetAsync(StoreKeys.NodeStatus("node-1"), cancellationToken: Ct)).Kv!.ModRevision;

        // Twelve heartbeats one second apart.
        for (var i = 1; i <= 12; i++)
        {
            cp.Time.Advance(TimeSpan.FromSeconds(1));
            await agent.HeartbeatAsync((ulong)i, Ct);
        }

        var node = (await cp.WaitForAsync(ObjectKind.Node, "node-1", o => o.Node.Status?.LastHeartbeat.ToDateTimeOffset() >= NodeCluster.Start.AddSeconds(5), Ct)).Node;
        Assert.Equal(NodeState.Ready, node.Status.State);
        Assert.NotNull((await cp.Store.GetAsync(StoreKeys.NodeLiveness("node-1"), cancellationToken: Ct)).Kv);
        var versions = (await cp.Store.GetAsync(StoreKeys.NodeStatus("node-1"), cancellationToken: Ct)).Kv!;
        Assert.True(versions.ModRevision > statusRevision);

        // Registration, then at most one status write per 5s of heartbeats (12s: two at most).
        Assert.InRange(versions.Version, 2, 3);
    }

    [Fact]
    public async Task A_second_stream_for_the_same_node_replaces_the_first()
    {
        await using var first = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await first.HandshakeAsync(Ct);

        await using var second = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await second.HandshakeAsync(Ct);

        var ended = await first.EndedAsync(Ct);
        Assert.Equal(StatusCode.Aborted, ended.StatusCode);
        Assert.Contains("node \"node-1\" connected again on another stream", ended.Detail, StringComparison.Ordinal);

        // The replaced stream's end leaves the node Ready and live: the newest agent holds it.
        var node = await Cp.GetNodeAsync("node-1", Ct);
        Assert.Equal(NodeState.Ready, node.Status.State);
        Assert.NotNull((await Cp.Store.GetAsync(StoreKeys.NodeLiveness("node-1"), cancellationToken: Ct)).Kv);

        await Cp.PutReplicaAsync("web-r1", "node-1", cancellationToken: Ct);
        Assert.Equal("web-r1", Assert.Single((await second.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta.Upserted).Replica.Meta.Name);
    }

    [Fact]
    public async Task Endpoints_acks_are_remembered_per_node()
    {
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);
        Assert.Null(Cp.Sessions.EndpointsAck("node-1"));

        await agent.SendAsync(new AgentMessage { EndpointsAck = new EndpointsAck { Version = 42 } }, Ct);
        await agent.SendAsync(new AgentMessage { EndpointsAck = new EndpointsAck { Version = 41 } }, Ct);

        // A report after the acks: once it is written, the acks before it were handled.
        await Cp.PutReplicaAsync("web-r1", "node-1", cancellationToken: Ct);
        await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct);
        await agent.ReportAsync("web-r1", 1, new ReplicaStatus { Phase = Phase.Starting }, Ct);
        await Cp.WaitForAsync(ObjectKind.Replica, "web-r1", o => o.Replica.Status?.Phase == Phase.Starting, Ct);

        Assert.Equal(42, Cp.Sessions.EndpointsAck("node-1"));
    }

    [Fact]
    public async Task Every_agent_gets_the_full_endpoints_then_deltas_and_its_ack_is_recorded()
    {
        // A grace of many heartbeats: the clock moves on to the next heartbeat status write.
        await using var cp = await NodeCluster.StartAsync(new NodeStreamOptions { NodeGrace = TimeSpan.FromSeconds(30) }, cancellationToken: Ct);
        var api = new ServiceEndpoints { Service = "api", Ports = { new PortEndpoints { Port = "grpc", Protocol = Protocol.Tcp } } };
        await cp.Messages.PutAsync(StoreKeys.Endpoints("api"), api, 0, cancellationToken: Ct);
        await using var one = await cp.ConnectAsync("node-1", cancellationToken: Ct);
        await one.HandshakeAsync(Ct);
        await using var two = await cp.ConnectAsync("node-2", cancellationToken: Ct);
        await two.HandshakeAsync(Ct);

        var full = one.InitialEndpoints!;
        Assert.True(full.Full);
        var apiVersion = (await cp.Store.GetAsync(StoreKeys.Endpoints("api"), 0, Ct)).Kv!.ModRevision;
        Assert.Equal("api", Assert.Single(full.Services).Service);
        Assert.Equal(apiVersion, full.Services[0].Version);
        Assert.True(full.Version >= apiVersion);
        Assert.True(two.InitialEndpoints!.Full);

        // A new service's endpoints reach every agent as a delta at the revision that wrote them.
        var web = new ServiceEndpoints
        {
            Service = "web",
            Ports =
            {
                new PortEndpoints
                {
                    Port = "http",
                    Published = 8080,
                    Protocol = Protocol.Http,
                    Endpoints = { new ReplicaEndpoint { Replica = "web-aaaaa", Node = "node-1", Endpoint = new Endpoint { Address = "127.0.0.2", Port = 20001 } } },
                },
            },
        };
        var written = (await cp.Messages.PutAsync(StoreKeys.Endpoints("web"), web, 0, cancellationToken: Ct))!.Value;
        foreach (var agent in new[] { one, two })
        {
            var delta = (await agent.NextAsync(ControlMessage.MessageOneofCase.Endpoints, Ct)).Endpoints;
            Assert.False(delta.Full);
            Assert.Equal(written, delta.Version);
            Assert.Equal("127.0.0.2", Assert.Single(Assert.Single(delta.Services).Ports[0].Endpoints).Endpoint.Address);
            Assert.Equal(written, delta.Services[0].Version);
            Assert.Empty(delta.RemovedServices);
        }

        // A deleted service is named in removed_services.
        await cp.Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(StoreKeys.Endpoints("api"))), Ct);
        var removal = (await one.NextAsync(ControlMessage.MessageOneofCase.Endpoints, Ct)).Endpoints;
        Assert.Equal(["api"], removal.RemovedServices);
        Assert.Empty(removal.Services);
        Assert.True(removal.Version > written);

        // The ack is recorded per node, and written to the node status with the next heartbeat write.
        await one.SendAsync(new AgentMessage { EndpointsAck = new EndpointsAck { Version = removal.Version } }, Ct);
        await Eventually.TrueAsync(() => cp.Sessions.EndpointsAck("node-1") == removal.Version, "the ack of node-1 recorded", Ct);
        Assert.Null(cp.Sessions.EndpointsAck("node-2"));
        cp.Time.Advance(TimeSpan.FromSeconds(6));
        await one.HeartbeatAsync(1, Ct);
        await cp.WaitForAsync(ObjectKind.Node, "node-1", o => o.Node.Status?.EndpointsAckedVersion == removal.Version, Ct);

        // One watch on the endpoints serves every stream.
        Assert.Equal(2, cp.App.Services.GetRequiredService<EndpointsFeed>().SubscriberCount);
    }

    [Fact]
    public async Task A_one_endpoint_change_reaches_the_agent_as_a_one_endpoint_delta_and_its_table_equals_the_stored_set()
    {
        static ReplicaEndpoint At(string replica, int port) => new() { Replica = replica, Node = "node-1", Endpoint = new Endpoint { Address = "127.0.0.2", Port = port } };
        var web = new ServiceEndpoints
        {
            Service = "web",
            ChangedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Cp.Time.GetUtcNow()),
            Ports = { new PortEndpoints { Port = "http", Published = 8080, Protocol = Protocol.Http, Endpoints = { At("web-a", 20001), At("web-b", 20002), At("web-c", 20003) } } },
        };
        var first = (await Cp.Messages.PutAsync(StoreKeys.Endpoints("web"), web, 0, cancellationToken: Ct))!.Value;
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);
        var table = new EndpointsTable();
        Assert.True(table.Apply(agent.InitialEndpoints!));

        // One more endpoint, in the planner's order (address, port, replica id).
        web.Ports[0].Endpoints.Insert(2, At("web-d", 20002));
        web.ChangedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Cp.Time.GetUtcNow().AddSeconds(5));
        var second = (await Cp.Messages.PutAsync(StoreKeys.Endpoints("web"), web, first, cancellationToken: Ct))!.Value;

        var update = (await agent.NextAsync(ControlMessage.MessageOneofCase.Endpoints, Ct)).Endpoints;
        Assert.False(update.Full);
        Assert.Empty(update.Services);
        var delta = Assert.Single(update.Deltas);
        Assert.Equal(second, delta.Version);
        var port = Assert.Single(delta.Ports);
        Assert.Equal("web-d", Assert.Single(port.Upserted).Replica);
        Assert.Empty(port.Removed);

        Assert.True(table.Apply(update));
        var stored = (await Cp.Messages.GetAsync<ServiceEndpoints>(StoreKeys.Endpoints("web"), Ct))!;
        stored.Value.Service = "web";
        stored.Value.Version = stored.ModRevision;
        Assert.Equal(stored.Value, table.Current.Services["web"]);
        Assert.Equal(second, table.Current.Version);
    }

    /// <summary>Records what is logged at Error or above.</summary>
    private sealed class ErrorLog : ILoggerProvider, ILogger
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Messages.Enqueue($"{formatter(state, exception)} {exception?.Message}");
            }
        }

        public void Dispose()
        {
        }
    }
}
