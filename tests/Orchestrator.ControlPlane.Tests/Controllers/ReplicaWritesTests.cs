using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Tests.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>Creating many replicas at once: few transactions, every one guarded, a taken id redrawn.</summary>
public sealed class ReplicaWritesTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-replica-writes");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private SqliteStateStore? _store;
    private long _serviceModRevision;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync()
    {
        _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);
        var put = await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Service("web"), ProtoJson.Encode(new Service { Meta = new ObjectMeta { Name = "web" } }))), Ct);
        _serviceModRevision = put.Revision;
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private static List<ReplicaSpec> Specs(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Revision = 1, Desired = DesiredState.Run, Generation = 1 })];

    private async Task<List<string>> StoredIdsAsync()
    {
        var specs = await Store.ListAsync(StoreKeys.ReplicasPrefix, cancellationToken: Ct);
        var statuses = await Store.ListAsync(StoreKeys.ReplicaStatusPrefix, cancellationToken: Ct);
        Assert.Equal(specs.Items.Count, statuses.Items.Count);
        Assert.All(statuses.Items, kv => Assert.Equal(Phase.Pending, ProtoJson.Decode<ReplicaStatus>(kv.Value, kv.Key).Phase));
        return [.. specs.Items.Select(kv => StoreKeys.NameOf(kv.Key, StoreKeys.ReplicasPrefix))];
    }

    [Fact]
    public async Task Many_replicas_are_created_a_chunk_per_transaction()
    {
        var counting = new InterferingStore(Store, times: 0, (_, _) => Task.CompletedTask);
        var count = (2 * ReplicaWrites.MaxCreatesPerTxn) + 7;

        var ids = await ReplicaWrites.CreateManyAsync(counting, "service", "web", StoreKeys.Service("web"), _serviceModRevision, Specs(count), _time.GetUtcNow(), Ct);

        Assert.Equal(3, counting.Transactions);
        Assert.Equal(count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id => Assert.StartsWith("web-", id, StringComparison.Ordinal));
        Assert.Equal(ids.Order(StringComparer.Ordinal), (await StoredIdsAsync()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_chunk_that_meets_a_taken_id_is_created_one_by_one_under_fresh_ids()
    {
        // Another writer takes the first id of the chunk just before the chunk is sent.
        string? taken = null;
        var racing = new InterferingStore(Store, times: 1, async (inner, txn) =>
        {
            var key = txn.If.First(c => c.Key.StartsWith(StoreKeys.ReplicasPrefix, StringComparison.Ordinal)).Key;
            taken = StoreKeys.NameOf(key, StoreKeys.ReplicasPrefix);
            await inner.TxnAsync(Txn.Unconditional(TxnOp.Put(key, ProtoJson.Encode(new Replica { Meta = new ObjectMeta { Name = taken }, Spec = new ReplicaSpec() }))), Ct);
        });

        var ids = await ReplicaWrites.CreateManyAsync(racing, "service", "web", StoreKeys.Service("web"), _serviceModRevision, Specs(5), _time.GetUtcNow(), Ct);

        Assert.Equal(1 + 5, racing.Transactions);
        Assert.Equal(5, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.DoesNotContain(taken, ids);
        var specs = await Store.ListAsync(StoreKeys.ReplicasPrefix, cancellationToken: Ct);
        Assert.Equal(6, specs.Items.Count);
    }

    [Fact]
    public async Task A_changed_owner_refuses_the_chunk_and_writes_nothing()
    {
        var racing = new InterferingStore(Store, times: 1, async (inner, _) =>
            await inner.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Service("web"), ProtoJson.Encode(new Service { Meta = new ObjectMeta { Name = "web", Generation = 2 } }))), Ct));

        await Assert.ThrowsAsync<ReconcileConflictException>(() =>
            ReplicaWrites.CreateManyAsync(racing, "service", "web", StoreKeys.Service("web"), _serviceModRevision, Specs(10), _time.GetUtcNow(), Ct));

        Assert.Empty((await Store.ListAsync(StoreKeys.ReplicasPrefix, cancellationToken: Ct)).Items);
        Assert.Empty((await Store.ListAsync(StoreKeys.ReplicaStatusPrefix, cancellationToken: Ct)).Items);
    }

    [Fact]
    public async Task An_owners_replicas_are_read_from_under_its_id_prefix_and_checked_for_the_owner()
    {
        var web = await ReplicaWrites.CreateManyAsync(Store, "service", "web", StoreKeys.Service("web"), _serviceModRevision, Specs(3), _time.GetUtcNow(), Ct);

        // "web-api" shares the prefix "web-"; a job named "web" shares it too; "api" does not.
        var others = new[] { ("service", "web-api"), ("job", "web"), ("service", "api") };
        foreach (var (kind, owner) in others)
        {
            var put = await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Service(owner + "-" + kind), ProtoJson.Encode(new Service()))), Ct);
            var spec = new ReplicaSpec { Owner = new OwnerRef { Kind = kind, Name = owner }, Revision = 1, Desired = DesiredState.Run, Generation = 1 };
            await ReplicaWrites.CreateManyAsync(Store, kind, owner, StoreKeys.Service(owner + "-" + kind), put.Revision, [spec], _time.GetUtcNow(), Ct);
        }

        var read = await ServiceReconciler.ReadOwnedReplicasAsync(Store, 0, "service", "web", Ct);

        Assert.Equal(web.Order(StringComparer.Ordinal), read.Select(r => r.Replica.Meta.Name).Order(StringComparer.Ordinal));
        Assert.All(read, r => Assert.Equal(Phase.Pending, r.Replica.Status.Phase));
        Assert.Equal(6, (await Store.ListAsync(StoreKeys.ReplicasPrefix, cancellationToken: Ct)).Items.Count);
    }
}
