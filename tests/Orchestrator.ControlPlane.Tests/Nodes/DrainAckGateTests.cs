using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>
/// The drain gate end to end on the real node stream (docs/adr/0008-drain-protocol.md): a control
/// plane running its controllers, two agents speaking the real protocol that ack endpoints updates
/// when the test lets them. A replica retired by a scale-down stays draining while one agent has
/// not acked the endpoints version without it, and is asked to stop once it has. Here on SQLite
/// with one control plane; <see cref="DrainAckGateHaTests"/> runs it across two control planes.
/// </summary>
public sealed class DrainAckGateTests : IAsyncLifetime
{
    private ControlPlaneFixture? _cp;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _cp = await ControlPlaneFixture.StartAsync(controllers: true, configure: DrainAckScenario.Configure, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_cp is not null)
        {
            await _cp.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_retired_replica_stops_only_after_both_agents_acked_the_endpoints_without_it()
    {
        await DrainAckScenario.RunAsync(_cp!, _cp!, _cp!, Ct);
    }
}

/// <summary>
/// Two control planes on one real etcd: node-1's stream is held by the leader, node-2's by the
/// other control plane. node-2's ack reaches the leader's gate only through the store.
/// </summary>
public sealed class DrainAckGateHaTests(EtcdFixture etcd) : IClassFixture<EtcdFixture>, IAsyncLifetime
{
    private readonly List<ControlPlaneFixture> _planes = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var plane in _planes)
        {
            await plane.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_ack_on_a_stream_held_by_a_follower_opens_the_leaders_gate()
    {
        var endpoint = etcd.Require().Endpoint;
        foreach (var id in new[] { "cp-a", "cp-b" })
        {
            _planes.Add(await ControlPlaneFixture.StartAsync(
                (_, ct) => StateStoreFactory.OpenAsync("etcd://" + endpoint, TimeProvider.System, cancellationToken: ct),
                memberId: id,
                controllers: true,
                configure: DrainAckScenario.Configure,
                cancellationToken: Ct));
        }

        var leader = await Controllers.Eventually.ValueAsync(
            async () =>
            {
                foreach (var plane in _planes)
                {
                    if ((await plane.Client.VersionAsync(new VersionRequest(), cancellationToken: Ct)).Leader)
                    {
                        return plane;
                    }
                }

                return null;
            },
            "one of the two control planes leading",
            Ct);
        var follower = _planes.Single(p => p != leader);

        await DrainAckScenario.RunAsync(leader, leader, follower, Ct);
    }
}

/// <summary>The scenario both tests run, with node-1 on <c>first</c> and node-2 on <c>second</c>.</summary>
internal static class DrainAckScenario
{
    private const string Service = """
        kind: Service
        name: web
        replicas: 2
        driver: process
        command: ["app"]
        ports:
          - { name: http, port: 8080, published: 18080 }
        placement: { strategy: spread }
        """;

    /// <summary>A drain timeout far longer than the test: a stop can only come from the acks.</summary>
    public static void Configure(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder) =>
        builder.Services.AddSingleton(new ControllerOptions { DrainTimeout = TimeSpan.FromMinutes(10) });

    public static async Task RunAsync(ControlPlaneFixture api, ControlPlaneFixture first, ControlPlaneFixture second, CancellationToken ct)
    {
        await using var node1 = await AckingAgent.ConnectAsync(first, "node-1", "127.0.0.2", ct);
        await using var node2 = await AckingAgent.ConnectAsync(second, "node-2", "127.0.0.3", ct);
        var store = api.Store;

        await api.Client.ApplyAsync(new ApplyRequest { SourceName = "web.yaml", Content = Service }, cancellationToken: ct);
        var both = await Controllers.Eventually.ValueAsync(
            async () => await PublishedAsync(store, ct) is { Replicas.Count: 2 } e && await AckedAsync(store, "node-1", ct) >= e.Version && await AckedAsync(store, "node-2", ct) >= e.Version ? e : null,
            "both replicas published and both nodes' acks of that stored",
            ct);

        // node-2 stops acking; a scale-down drains one replica and the endpoints controller drops it.
        node2.AutoAck = false;
        await api.Client.ScaleAsync(new ScaleRequest { Service = "web", Replicas = 1 }, cancellationToken: ct);
        var without = await Controllers.Eventually.ValueAsync(
            async () => await PublishedAsync(store, ct) is { Replicas.Count: 1 } e ? e : null,
            "the endpoints of web down to one replica",
            ct);
        var retired = both.Replicas.Except(without.Replicas).Single();
        await Controllers.Eventually.TrueAsync(async () => await AckedAsync(store, "node-1", ct) >= without.Version, $"node-1's ack of version {without.Version} stored", ct);

        // Once node-1's ack is stored, a broken gate would stop the replica at the next pass; a
        // working one holds it as long as node-2 has not acked (for the ten-minute timeout).
        await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System, ct);
        Assert.Equal(DesiredState.Drain, (await ReplicaAsync(store, retired, ct)).Spec.Desired);
        Assert.True(await AckedAsync(store, "node-2", ct) < without.Version);

        await node2.AckLatestAsync(ct);
        await Controllers.Eventually.TrueAsync(async () => (await ReplicaAsync(store, retired, ct)).Spec.Desired == DesiredState.Stop, $"{retired} asked to stop after node-2's ack", ct);

        // The order in the store: node-2's ack was written before the stop.
        var ack = (await store.GetAsync(StoreKeys.EndpointsAck("node-2"), 0, ct)).Kv!;
        var stop = (await store.GetAsync(StoreKeys.Replica(retired), 0, ct)).Kv!;
        Assert.True(ack.ModRevision < stop.ModRevision, $"node-2's ack at revision {ack.ModRevision}, the stop at {stop.ModRevision}");
        Assert.True(ProtoJson.Decode<NodeEndpointsAck>(ack.Value, ack.Key).Version >= without.Version);
        var events = await api.Client.ListAsync(new ListRequest { Kind = ObjectKind.Event, Owner = "service/web" }, cancellationToken: ct);
        Assert.DoesNotContain(events.Items, o => o.Event.Reason == ServicePlanner.DrainTimedOut);
    }

    private sealed record Published(long Version, IReadOnlyList<string> Replicas);

    private static async Task<Published?> PublishedAsync(IStateStore store, CancellationToken ct)
    {
        var kv = (await store.GetAsync(StoreKeys.Endpoints("web"), 0, ct)).Kv;
        return kv is null ? null : new Published(kv.ModRevision, [.. ProtoJson.Decode<ServiceEndpoints>(kv.Value, kv.Key).Ports.SelectMany(p => p.Endpoints).Select(e => e.Replica)]);
    }

    private static async Task<long> AckedAsync(IStateStore store, string node, CancellationToken ct)
    {
        var kv = (await store.GetAsync(StoreKeys.EndpointsAck(node), 0, ct)).Kv;
        return kv is null ? 0 : ProtoJson.Decode<NodeEndpointsAck>(kv.Value, kv.Key).Version;
    }

    private static async Task<Replica> ReplicaAsync(IStateStore store, string id, CancellationToken ct)
    {
        var kv = (await store.GetAsync(StoreKeys.Replica(id), 0, ct)).Kv ?? throw new InvalidOperationException($"replica {id} is gone");
        return ProtoJson.Decode<Replica>(kv.Value, kv.Key);
    }
}

/// <summary>
/// An agent reduced to what the gate needs: it heartbeats, reports every replica assigned to it
/// Ready with an endpoint on its address, and acks each endpoints update while <see cref="AutoAck"/>
/// is on (as the real agent's endpoints table does once its mesh applied the update).
/// </summary>
internal sealed class AckingAgent : IAsyncDisposable
{
    private readonly FakeAgent _agent;
    private readonly string _address;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _send = new(1, 1);
    private Task _loops = Task.CompletedTask;
    private long _latest;
    private int _port = 20000;

    private AckingAgent(FakeAgent agent, string address)
    {
        _agent = agent;
        _address = address;
    }

    public bool AutoAck { get; set; } = true;

    public static async Task<AckingAgent> ConnectAsync(ControlPlaneFixture cp, string name, string address, CancellationToken ct)
    {
        var register = FakeAgent.Registration(name);
        register.Info.Address = address;
        var agent = new AckingAgent(await FakeAgent.ConnectAsync(cp.Channel, name, register, ct), address);
        var (_, set) = await agent._agent.HandshakeAsync(ct);
        await agent.HandleAsync(new ControlMessage { Assignments = set }, ct);
        await agent.HandleAsync(new ControlMessage { Endpoints = agent._agent.InitialEndpoints }, ct);
        agent._loops = Task.WhenAll(agent.ReadAsync(), agent.HeartbeatAsync());
        return agent;
    }

    /// <summary>Acks the newest endpoints version received.</summary>
    public Task AckLatestAsync(CancellationToken ct) => SendAsync(new AgentMessage { EndpointsAck = new EndpointsAck { Version = Interlocked.Read(ref _latest) } }, ct);

    private async Task SendAsync(AgentMessage message, CancellationToken ct)
    {
        await _send.WaitAsync(ct);
        try
        {
            await _agent.SendAsync(message, ct);
        }
        finally
        {
            _send.Release();
        }
    }

    private async Task ReadAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            await HandleAsync(await _agent.NextAsync(_stop.Token), _stop.Token);
        }
    }

    private async Task HeartbeatAsync()
    {
        for (ulong sequence = 1; !_stop.IsCancellationRequested; sequence++)
        {
            await SendAsync(new AgentMessage { Heartbeat = new Heartbeat { Sequence = sequence } }, _stop.Token);
            await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, _stop.Token);
        }
    }

    private async Task HandleAsync(ControlMessage message, CancellationToken ct)
    {
        var assigned = message.MessageCase switch
        {
            ControlMessage.MessageOneofCase.Assignments => message.Assignments.Assignments.Select(a => a.Replica),
            ControlMessage.MessageOneofCase.Delta => message.Delta.Upserted.Select(a => a.Replica),
            _ => [],
        };
        foreach (var replica in assigned.Where(r => r.Spec.Desired == DesiredState.Run && _reported.Add(r.Meta.Name)))
        {
            var status = new ReplicaStatus { Phase = Phase.Ready, ReadyAt = Timestamp.FromDateTimeOffset(TimeProvider.System.GetUtcNow()) };
            status.Endpoints["http"] = new Endpoint { Address = _address, Port = _port++ };
            await SendAsync(new AgentMessage { Status = new ReplicaReport { ReplicaId = replica.Meta.Name, Generation = replica.Spec.Generation, Status = status } }, ct);
        }

        if (message.MessageCase == ControlMessage.MessageOneofCase.Endpoints)
        {
            Interlocked.Exchange(ref _latest, Math.Max(Interlocked.Read(ref _latest), message.Endpoints.Version));
            if (AutoAck)
            {
                await AckLatestAsync(ct);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loops;
        }
        catch (Exception e) when (e is OperationCanceledException or Grpc.Core.RpcException)
        {
            // Stopped on purpose.
        }

        await _agent.DisposeAsync();
        _stop.Dispose();
        _send.Dispose();
    }
}
