using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// The endpoints reconciler's write interval, pass by pass on a real SQLite store and the fake
/// clock: the first change is written at once, later ones within the interval wait and are
/// written together.
/// </summary>
public sealed class EndpointsWriteIntervalTests : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly TempDirectory _dir = new("orc-endpoints-rate");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private SqliteStateStore? _store;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task PutAsync(string key, Google.Protobuf.IMessage value) =>
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, ProtoJson.Encode(value))), Ct);

    private async Task ReplicaAsync(Replica replica)
    {
        var status = replica.Status;
        replica = replica.Clone();
        replica.Status = null;
        await PutAsync(StoreKeys.Replica(replica.Meta.Name), replica);
        await PutAsync(StoreKeys.ReplicaStatus(replica.Meta.Name), status);
    }

    private async Task<List<string>> PublishedAsync()
    {
        var kv = (await Store.GetAsync(StoreKeys.Endpoints("web"), 0, Ct)).Kv!;
        return [.. ProtoJson.Decode<ServiceEndpoints>(kv.Value, kv.Key).Ports.SelectMany(p => p.Endpoints).Select(e => e.Replica)];
    }

    [Fact]
    public async Task Changes_within_the_interval_wait_and_are_written_together_and_a_change_after_a_quiet_interval_goes_at_once()
    {
        var reconciler = new EndpointsReconciler(Store, _time, NullLogger<EndpointsReconciler>.Instance, Interval);
        await PutAsync(StoreKeys.Node("node-1"), new Node { Meta = new ObjectMeta { Name = "node-1" }, Info = new NodeInfo { Address = "127.0.0.9" } });
        await PutAsync(StoreKeys.NodeStatus("node-1"), new NodeStatus { State = NodeState.Ready });
        await PutAsync(StoreKeys.Service("web"), EndpointsPlannerTests.Web());

        // The first write goes at once.
        Assert.Null((await reconciler.ReconcileAsync("web", Ct)).RequeueAfter);
        Assert.Empty(await PublishedAsync());

        // Two replicas turn Ready within the interval: nothing is written until it has passed.
        _time.Advance(TimeSpan.FromMilliseconds(30));
        await ReplicaAsync(EndpointsPlannerTests.R("web-aaaaa", ports: [("http", 20001)]));
        Assert.Equal(TimeSpan.FromMilliseconds(70), (await reconciler.ReconcileAsync("web", Ct)).RequeueAfter);
        await ReplicaAsync(EndpointsPlannerTests.R("web-bbbbb", ports: [("http", 20002)]));
        _time.Advance(TimeSpan.FromMilliseconds(40));
        Assert.Equal(TimeSpan.FromMilliseconds(30), (await reconciler.ReconcileAsync("web", Ct)).RequeueAfter);
        Assert.Empty(await PublishedAsync());

        _time.Advance(TimeSpan.FromMilliseconds(30));
        Assert.Null((await reconciler.ReconcileAsync("web", Ct)).RequeueAfter);
        Assert.Equal(["web-aaaaa", "web-bbbbb"], await PublishedAsync());

        // After a quiet interval, a change is written by the first pass that sees it.
        _time.Advance(TimeSpan.FromSeconds(5));
        await ReplicaAsync(EndpointsPlannerTests.R("web-aaaaa", desired: DesiredState.Drain, ports: [("http", 20001)]));
        Assert.Null((await reconciler.ReconcileAsync("web", Ct)).RequeueAfter);
        Assert.Equal(["web-bbbbb"], await PublishedAsync());
    }
}
