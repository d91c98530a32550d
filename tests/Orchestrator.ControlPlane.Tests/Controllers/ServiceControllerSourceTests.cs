using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using WatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using WatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>Which services a store change concerns: a node's spec change concerns the services with replicas on it.</summary>
public sealed class ServiceControllerSourceTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-svc-source");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private SqliteStateStore? _store;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private static KeyValue Kv(string key, Google.Protobuf.IMessage value) => new(key, ProtoJson.Encode(value), 1, 1, 1, 0);

    private static Replica Replica(string id, string owner, string node) => new()
    {
        Meta = new ObjectMeta { Name = id },
        Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = owner }, Node = node, Desired = DesiredState.Run },
    };

    [Fact]
    public async Task A_node_spec_change_enqueues_the_services_with_replicas_on_that_node()
    {
        await _store!.TxnAsync(
            new Txn([], [TxnOp.Put(StoreKeys.Replica("web-aaaaa"), ProtoJson.Encode(Replica("web-aaaaa", "web", "node-1"))), TxnOp.Put(StoreKeys.Replica("api-bbbbb"), ProtoJson.Encode(Replica("api-bbbbb", "api", "node-2")))], []),
            Ct);
        var source = new ServiceControllerSource(_store);
        var (keys, _) = await source.ListKeysAsync(Ct);
        Assert.Equal(["api", "web"], keys.Order(StringComparer.Ordinal));

        var drain = new Node { Meta = new ObjectMeta { Name = "node-1" }, Spec = new NodeSpec { Draining = true } };
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Node("node-1"), drain), null)));
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Node("node-3"), drain), null)));

        // A binding seen on the watch moves the index: api now has a replica on node-1 too.
        Assert.Equal(["api"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Replica("api-ccccc"), Replica("api-ccccc", "api", "node-1")), null)));
        Assert.Equal(["api", "web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Node("node-1"), drain), null)).Order(StringComparer.Ordinal));

        // A deleted replica leaves it.
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Delete, new KeyValue(StoreKeys.Replica("web-aaaaa"), [], 0, 0, 0, 0), null)));
        Assert.Equal(["api"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Node("node-1"), drain), null)));
    }

    [Fact]
    public async Task A_job_replica_change_enqueues_no_service()
    {
        var jobReplica = new Replica
        {
            Meta = new ObjectMeta { Name = "report-aaaaa" },
            Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "job", Name = "report" }, Node = "node-1", Desired = DesiredState.Run },
        };
        await _store!.TxnAsync(
            new Txn([], [TxnOp.Put(StoreKeys.Replica("report-aaaaa"), ProtoJson.Encode(jobReplica)), TxnOp.Put(StoreKeys.Replica("web-bbbbb"), ProtoJson.Encode(Replica("web-bbbbb", "web", "node-1")))], []),
            Ct);
        var source = new ServiceControllerSource(_store);
        var (keys, _) = await source.ListKeysAsync(Ct);
        Assert.Equal(["web"], keys);

        var running = new ReplicaStatus { Phase = Phase.Running };
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.ReplicaStatus("report-aaaaa"), running), null)));
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.ReplicaStatus("web-bbbbb"), running), null)));

        // A job replica created after the list is known from its spec event on.
        var later = jobReplica.Clone();
        later.Meta.Name = "report-ccccc";
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Replica("report-ccccc"), later), null)));
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.ReplicaStatus("report-ccccc"), running), null)));
        Assert.DoesNotContain("report", source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Node("node-1"), new Node { Meta = new ObjectMeta { Name = "node-1" } }), null)));
    }

    [Fact]
    public async Task Acks_endpoints_and_node_readiness_wake_only_the_services_whose_replicas_drain()
    {
        var draining = Replica("web-aaaaa", "web", "node-1");
        draining.Spec.Desired = DesiredState.Drain;
        await _store!.TxnAsync(
            new Txn([], [TxnOp.Put(StoreKeys.Replica("web-aaaaa"), ProtoJson.Encode(draining)), TxnOp.Put(StoreKeys.Replica("api-bbbbb"), ProtoJson.Encode(Replica("api-bbbbb", "api", "node-2")))], []),
            Ct);
        var source = new ServiceControllerSource(_store);
        await source.ListKeysAsync(Ct);

        // Any node's ack may open web's gate; api drains nothing.
        var ack = new NodeEndpointsAck { Node = "node-2", Version = 41 };
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.EndpointsAck("node-2"), ack), null)));
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Endpoints("web"), new ServiceEndpoints { Service = "web" }), null)));
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Endpoints("api"), new ServiceEndpoints { Service = "api" }), null)));

        // A node's readiness changing wakes the gate; its periodic heartbeat write does not.
        var ready = new NodeStatus { State = NodeState.Ready };
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.NodeStatus("node-3"), ready), null)));
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.NodeStatus("node-3"), new NodeStatus { State = NodeState.Ready, LastHeartbeat = new Google.Protobuf.WellKnownTypes.Timestamp { Seconds = 9 } }), null)));
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.NodeStatus("node-3"), new NodeStatus { State = NodeState.NotReady }), null)));
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Delete, new KeyValue(StoreKeys.NodeLiveness("node-3"), [], 0, 0, 0, 0), null)));

        // Once the replica is asked to stop, nothing waits on acks any more.
        draining.Spec.Desired = DesiredState.Stop;
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.Replica("web-aaaaa"), draining), null)));
        Assert.Empty(source.KeysOf(new WatchEvent(WatchEventType.Put, Kv(StoreKeys.EndpointsAck("node-2"), ack), null)));
    }
}
