using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using WatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using WatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>Which services' endpoints a store change concerns.</summary>
public sealed class EndpointsControllerSourceTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-ep-source");
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

    private static WatchEvent Put(string key, Google.Protobuf.IMessage value) => new(WatchEventType.Put, Kv(key, value), null);

    [Fact]
    public async Task Services_with_replicas_on_a_node_are_enqueued_only_when_its_readiness_flips()
    {
        var replica = EndpointsPlannerTests.R("web-aaaaa", "node-1");
        replica.Status = null;
        await _store!.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Replica("web-aaaaa"), ProtoJson.Encode(replica)), TxnOp.Put(StoreKeys.Endpoints("gone"), ProtoJson.Encode(new ServiceEndpoints { Service = "gone" }))), Ct);
        var source = new EndpointsControllerSource(_store);
        var (keys, _) = await source.ListKeysAsync(Ct);
        Assert.Equal(["gone"], keys);

        Assert.Equal(["web"], source.KeysOf(Put(StoreKeys.NodeStatus("node-1"), new NodeStatus { State = NodeState.Ready })));

        // The periodic heartbeat write and an acknowledged version change no endpoints.
        Assert.Empty(source.KeysOf(Put(StoreKeys.NodeStatus("node-1"), new NodeStatus { State = NodeState.Ready, EndpointsAckedVersion = 9 })));
        Assert.Equal(["web"], source.KeysOf(Put(StoreKeys.NodeStatus("node-1"), new NodeStatus { State = NodeState.NotReady })));
        Assert.Empty(source.KeysOf(Put(StoreKeys.NodeStatus("node-2"), new NodeStatus { State = NodeState.NotReady })));

        // A replica's status, its endpoints key and its service concern the service.
        Assert.Equal(["web"], source.KeysOf(Put(StoreKeys.ReplicaStatus("web-aaaaa"), new ReplicaStatus { Phase = Phase.Ready })));
        Assert.Equal(["web"], source.KeysOf(Put(StoreKeys.Endpoints("web"), new ServiceEndpoints { Service = "web" })));
        Assert.Equal(["web"], source.KeysOf(Put(StoreKeys.Service("web"), EndpointsPlannerTests.Web())));

        // A replica deleted without its previous value: the index says whose it was.
        Assert.Equal(["web"], source.KeysOf(new WatchEvent(WatchEventType.Delete, new KeyValue(StoreKeys.Replica("web-aaaaa"), [], 0, 0, 0, 0), null)));
    }
}
