using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// The drain gate (docs/adr/0008-drain-protocol.md) on a real SQLite store and the fake clock:
/// the service and endpoints reconcilers run pass by pass, and the test writes what agents and
/// node streams would (phases, node readiness and liveness, endpoints acks).
/// node-1 and node-2 are connected; node-3 is NotReady and never acks.
/// </summary>
public sealed class DrainGateTests : IAsyncLifetime
{
    private static readonly string[] Connected = ["node-1", "node-2"];
    private readonly TempDirectory _dir = new("orc-drain-gate");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ControllerOptions _options = new() { DrainTimeout = TimeSpan.FromSeconds(5) };
    private SqliteStateStore? _store;
    private ServiceReconciler? _services;
    private EndpointsReconciler? _endpoints;
    private int _nextPort = 20000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync()
    {
        _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);
        var events = new EventRecorder(Store, _time, _options, NullLogger<EventRecorder>.Instance);
        _services = new ServiceReconciler(Store, _time, _options, events, NullLogger<ServiceReconciler>.Instance);
        _endpoints = new EndpointsReconciler(Store, _time, NullLogger<EndpointsReconciler>.Instance);
        for (var i = 1; i <= 3; i++)
        {
            var name = $"node-{i}";
            var node = new Node { Meta = new ObjectMeta { Name = name }, Info = new NodeInfo { Address = $"127.0.0.{i + 1}" }, Spec = new NodeSpec() };
            var ready = i <= 2;
            var ops = new List<TxnOp>
            {
                TxnOp.Put(StoreKeys.Node(name), ProtoJson.Encode(node)),
                TxnOp.Put(StoreKeys.NodeStatus(name), ProtoJson.Encode(new NodeStatus { State = ready ? NodeState.Ready : NodeState.NotReady })),
            };
            if (ready)
            {
                ops.Add(TxnOp.Put(StoreKeys.NodeLiveness(name), "cp-1"u8.ToArray()));
            }

            await Store.TxnAsync(new Txn([], ops, []), Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private static string Spec(string version, int replicas) => $"""
        kind: Service
        name: web
        replicas: {replicas}
        driver: process
        command: ["app", "{version}"]
        ports:
          - {"{"} name: http, port: 8080 {"}"}
        update: {"{"} maxSurge: 1, maxUnavailable: 0, progressDeadline: 1m {"}"}
        """;

    private async Task ApplyAsync(string yaml)
    {
        var parsed = SpecParser.Parse(yaml, "web.yaml");
        Assert.Empty(parsed.Errors);
        await new SpecApplier(Store, _time, NullLogger<SpecApplier>.Instance).ApplyAsync(parsed.Documents, dryRun: false, Ct);
    }

    private async Task<IReadOnlyList<Replica>> ReplicasAsync() =>
        (await new ClusterObjects(Store).ListAsync(ObjectKindInfo.Replica, "service/web", cancellationToken: Ct)).Items.Select(o => o.Replica).ToList();

    private async Task<IReadOnlyList<Event>> EventsAsync() =>
        (await new ClusterObjects(Store).ListAsync(ObjectKindInfo.Event, "service/web", cancellationToken: Ct)).Items.Select(o => o.Event).OrderBy(e => e.Time.ToDateTimeOffset()).ToList();

    private async Task<KeyValue> EndpointsAsync() => (await Store.GetAsync(StoreKeys.Endpoints("web"), 0, Ct)).Kv ?? throw new InvalidOperationException("no endpoints published");

    private async Task AckAsync(string node, long version) =>
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.EndpointsAck(node), ProtoJson.Encode(new NodeEndpointsAck { Node = node, Version = version, ControlPlane = "cp-1" }))), Ct);

    private async Task<ReconcileResult> ReconcileAsync()
    {
        var result = await _services!.ReconcileAsync("web", Ct);
        await _endpoints!.ReconcileAsync("web", Ct);
        return result;
    }

    /// <summary>What agents do with their replicas: place (round robin), start and ready them with an endpoint, drain, stop.</summary>
    private async Task AgentsAsync()
    {
        var replicas = await ReplicasAsync();
        foreach (var replica in replicas)
        {
            var status = replica.Status ?? new ReplicaStatus();
            if (string.IsNullOrEmpty(replica.Spec.Node))
            {
                var spec = replica.Clone();
                spec.Status = null;
                spec.Meta.ResourceVersion = 0;
                spec.Spec.Node = Connected[_nextPort % 2];
                await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Replica(replica.Meta.Name), ProtoJson.Encode(spec))), Ct);
                status.Phase = Phase.Ready;
                status.ReadyAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
                status.Endpoints["http"] = new Endpoint { Address = spec.Spec.Node == "node-1" ? "127.0.0.2" : "127.0.0.3", Port = _nextPort++ };
            }
            else
            {
                status.Phase = replica.Spec.Desired switch
                {
                    DesiredState.Drain => Phase.Draining,
                    DesiredState.Stop => Phase.Succeeded,
                    _ => status.Phase,
                };
            }

            await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ReplicaStatus(replica.Meta.Name), ProtoJson.Encode(status))), Ct);
        }
    }

    /// <summary>Two Ready replicas of web, one on each connected node, published, and acked by both.</summary>
    private async Task<long> TwoReadyReplicasAsync()
    {
        await ApplyAsync(Spec("v1", 2));
        await ReconcileAsync();
        await AgentsAsync();
        await ReconcileAsync();
        var endpoints = await EndpointsAsync();
        Assert.Equal(2, ProtoJson.Decode<ServiceEndpoints>(endpoints.Value, endpoints.Key).Ports.Single().Endpoints.Count);
        foreach (var node in Connected)
        {
            await AckAsync(node, endpoints.ModRevision);
        }

        return endpoints.ModRevision;
    }

    /// <summary>Scales web to one replica: one drains, the endpoints controller drops it; returns it and the version without it.</summary>
    private async Task<(Replica Draining, long Version)> ScaleDownAsync()
    {
        Assert.Equal(1, (await new ObjectCommands(Store, _time).ScaleAsync("web", 1, Ct)).Replicas);
        await ReconcileAsync();
        var draining = Assert.Single(await ReplicasAsync(), r => r.Spec.Desired == DesiredState.Drain);
        var endpoints = await EndpointsAsync();
        Assert.DoesNotContain(draining.Meta.Name, ProtoJson.Decode<ServiceEndpoints>(endpoints.Value, endpoints.Key).Ports.Single().Endpoints.Select(e => e.Replica));
        return (draining, endpoints.ModRevision);
    }

    private async Task<DesiredState> DesiredAsync(string id) => (await ReplicasAsync()).Single(r => r.Meta.Name == id).Spec.Desired;

    [Fact]
    public async Task A_draining_replica_is_stopped_only_after_every_connected_node_acked_the_endpoints_without_it()
    {
        var before = await TwoReadyReplicasAsync();
        var (draining, version) = await ScaleDownAsync();

        // node-1 caught up, node-2 still routes by the version with the replica in it: no stop.
        await AckAsync("node-1", version);
        var result = await ReconcileAsync();
        Assert.Equal(DesiredState.Drain, await DesiredAsync(draining.Meta.Name));
        Assert.Equal(TimeSpan.FromSeconds(5), result.RequeueAfter);
        Assert.True(before < version);

        // node-2 acks it; node-3 is NotReady and never acked: it does not hold the gate.
        _time.Advance(TimeSpan.FromSeconds(1));
        await AckAsync("node-2", version);
        await ReconcileAsync();

        Assert.Equal(DesiredState.Stop, await DesiredAsync(draining.Meta.Name));
        var events = await EventsAsync();
        var stopping = Assert.Single(events, e => e.Reason == "ReplicaStopping");
        Assert.Contains("out of traffic: 2 connected nodes acknowledged endpoints version", stopping.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(events, e => e.Type == EventType.Warning);
    }

    [Fact]
    public async Task A_lagging_node_delays_the_stop_until_the_timeout_which_a_warning_event_names_it_with_its_ack()
    {
        var before = await TwoReadyReplicasAsync();
        var (draining, version) = await ScaleDownAsync();
        await AckAsync("node-1", version);

        _time.Advance(TimeSpan.FromSeconds(4));
        var result = await ReconcileAsync();
        Assert.Equal(DesiredState.Drain, await DesiredAsync(draining.Meta.Name));
        Assert.Equal(TimeSpan.FromSeconds(1), result.RequeueAfter);

        _time.Advance(TimeSpan.FromSeconds(1));
        await ReconcileAsync();

        Assert.Equal(DesiredState.Stop, await DesiredAsync(draining.Meta.Name));
        var warning = Assert.Single(await EventsAsync(), e => e.Type == EventType.Warning);
        Assert.Equal(ServicePlanner.DrainTimedOut, warning.Reason);
        Assert.Contains($"1 connected node had not acknowledged endpoints version {version}", warning.Message, StringComparison.Ordinal);
        Assert.Contains($"node-2 (acked {before})", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("node-1", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("node-3", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_that_goes_not_ready_or_loses_its_liveness_no_longer_holds_the_gate()
    {
        await TwoReadyReplicasAsync();
        var (draining, version) = await ScaleDownAsync();
        await AckAsync("node-1", version);
        await ReconcileAsync();
        Assert.Equal(DesiredState.Drain, await DesiredAsync(draining.Meta.Name));

        // node-2's lease expired (its liveness key is gone) before anyone marked it NotReady.
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(StoreKeys.NodeLiveness("node-2"))), Ct);
        await ReconcileAsync();

        Assert.Equal(DesiredState.Stop, await DesiredAsync(draining.Meta.Name));
        Assert.DoesNotContain(await EventsAsync(), e => e.Type == EventType.Warning);
    }

    [Fact]
    public async Task A_replica_that_never_became_ready_stops_at_once()
    {
        await TwoReadyReplicasAsync();
        var replicas = await ReplicasAsync();

        // One of them failed its readiness since: out of the endpoints, nothing to drain.
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ReplicaStatus(replicas[0].Meta.Name), ProtoJson.Encode(new ReplicaStatus { Phase = Phase.Starting }))), Ct);

        await new ObjectCommands(Store, _time).ScaleAsync("web", 1, Ct);
        await ReconcileAsync();

        Assert.Equal(DesiredState.Stop, await DesiredAsync(replicas[0].Meta.Name));
        Assert.DoesNotContain(await EventsAsync(), e => e.Reason == "ReplicaDraining");
    }

    [Fact]
    public async Task A_rolling_update_stops_each_old_replica_only_after_both_nodes_acked_the_endpoints_without_it()
    {
        await TwoReadyReplicasAsync();
        await ApplyAsync(Spec("v2", 2));
        var acked = new Dictionary<string, long>(StringComparer.Ordinal);
        var stopped = new HashSet<string>(StringComparer.Ordinal);
        for (var step = 0; step < 40 && stopped.Count < 2; step++)
        {
            var before = (await ReplicasAsync()).ToDictionary(r => r.Meta.Name, r => r.Spec.Desired, StringComparer.Ordinal);
            await ReconcileAsync();

            // The order, read back from the store: a replica asked to stop in this pass is out of
            // the endpoints, and every connected node's ack key holds that version (or a later
            // one) and was written before the stop.
            var endpoints = await EndpointsAsync();
            var published = ProtoJson.Decode<ServiceEndpoints>(endpoints.Value, endpoints.Key).Ports.Single().Endpoints.Select(e => e.Replica).ToList();
            foreach (var replica in (await ReplicasAsync()).Where(r => r.Spec.Desired == DesiredState.Stop && before.GetValueOrDefault(r.Meta.Name) == DesiredState.Drain))
            {
                var stop = (await Store.GetAsync(StoreKeys.Replica(replica.Meta.Name), 0, Ct)).Kv!;
                Assert.DoesNotContain(replica.Meta.Name, published);
                foreach (var node in Connected)
                {
                    var ack = (await Store.GetAsync(StoreKeys.EndpointsAck(node), 0, Ct)).Kv!;
                    Assert.True(ProtoJson.Decode<NodeEndpointsAck>(ack.Value, ack.Key).Version >= endpoints.ModRevision, $"{replica.Meta.Name} stopped before {node} acked version {endpoints.ModRevision}");
                    Assert.True(ack.ModRevision < stop.ModRevision);
                }

                stopped.Add(replica.Meta.Name);
            }

            await AgentsAsync();

            // node-1 acks the current version at once; node-2 one step late (what it acked last step).
            var current = (await EndpointsAsync()).ModRevision;
            await AckAsync("node-1", current);
            if (acked.TryGetValue("node-2", out var late))
            {
                await AckAsync("node-2", late);
            }

            acked["node-2"] = current;
            _time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(2, stopped.Count);
        Assert.DoesNotContain(await EventsAsync(), e => e.Type == EventType.Warning);
        Assert.All(await ReplicasAsync(), r => Assert.True(r.Spec.Revision == 2 || r.Spec.Desired == DesiredState.Stop));
    }
}
