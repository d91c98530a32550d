using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// The replica writes every owner's controller makes, each a compare-and-swap transaction: a
/// lost race throws <see cref="ReconcileConflictException"/> so the queue retries the pass.
/// The callers log and record events; this only writes.
/// </summary>
internal static class ReplicaWrites
{
    private const int MaxIdAttempts = 5;

    /// <summary>
    /// Replicas created in one transaction: two puts and two compares each, plus the owner's
    /// compare and the leadership fence, well inside etcd's default of 128 operations.
    /// </summary>
    public const int MaxCreatesPerTxn = 50;

    /// <summary>
    /// Creates a Pending replica of <paramref name="owner"/> under a fresh id, guarded on the
    /// owner's spec still being at <paramref name="ownerModRevision"/>; an id already taken is
    /// drawn again. Returns the new replica's id.
    /// </summary>
    public static async Task<string> CreateAsync(
        IStateStore store,
        string ownerKind,
        string owner,
        string ownerKey,
        long ownerModRevision,
        ReplicaSpec spec,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var at = Timestamp.FromDateTimeOffset(now);
        for (var attempt = 0; attempt < MaxIdAttempts; attempt++)
        {
            var id = ReplicaIds.New(owner);
            var replica = new Replica
            {
                Meta = new ObjectMeta { Name = id, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = at, UpdatedAt = at },
                Spec = spec,
            };
            var status = new ReplicaStatus { Phase = Phase.Pending, LastTransitionAt = at };
            var result = await store.TxnAsync(
                new Txn(
                    [Compare.ModRevision(ownerKey, ownerModRevision), Compare.Absent(StoreKeys.Replica(id)), Compare.Absent(StoreKeys.ReplicaStatus(id))],
                    [TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(replica)), TxnOp.Put(StoreKeys.ReplicaStatus(id), ProtoJson.Encode(status))],
                    [TxnOp.Get(ownerKey)]),
                cancellationToken);
            if (result.Succeeded)
            {
                return id;
            }

            if (result.Results[0].Kv?.ModRevision != ownerModRevision)
            {
                throw new ReconcileConflictException($"{ownerKind} {owner} changed");
            }

            // The id is taken: draw another.
        }

        throw new ReconcileConflictException($"no free replica id for {owner} after {MaxIdAttempts} attempts");
    }

    /// <summary>
    /// Creates Pending replicas of <paramref name="owner"/>, one per spec, up to
    /// <see cref="MaxCreatesPerTxn"/> in each transaction, each guarded on the owner's spec still
    /// being at <paramref name="ownerModRevision"/>. A scale-up of thousands is a few hundred
    /// writes, not thousands. A chunk that loses only on a taken id is created one by one.
    /// Returns the new ids in the order of the specs; a conflict on the owner throws after the
    /// chunks before it were written (each chunk stands alone, like a single create).
    /// </summary>
    public static async Task<IReadOnlyList<string>> CreateManyAsync(
        IStateStore store,
        string ownerKind,
        string owner,
        string ownerKey,
        long ownerModRevision,
        IReadOnlyList<ReplicaSpec> specs,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var at = Timestamp.FromDateTimeOffset(now);
        var ids = new List<string>(specs.Count);
        foreach (var chunk in specs.Chunk(MaxCreatesPerTxn))
        {
            if (chunk.Length == 1)
            {
                ids.Add(await CreateAsync(store, ownerKind, owner, ownerKey, ownerModRevision, chunk[0], now, cancellationToken));
                continue;
            }

            var chunkIds = chunk.Select(_ => ReplicaIds.New(owner)).ToList();
            var compares = new List<Compare>(1 + (2 * chunk.Length)) { Compare.ModRevision(ownerKey, ownerModRevision) };
            var puts = new List<TxnOp>(2 * chunk.Length);
            for (var i = 0; i < chunk.Length; i++)
            {
                var id = chunkIds[i];
                var replica = new Replica
                {
                    Meta = new ObjectMeta { Name = id, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = at, UpdatedAt = at },
                    Spec = chunk[i],
                };
                compares.Add(Compare.Absent(StoreKeys.Replica(id)));
                compares.Add(Compare.Absent(StoreKeys.ReplicaStatus(id)));
                puts.Add(TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(replica)));
                puts.Add(TxnOp.Put(StoreKeys.ReplicaStatus(id), ProtoJson.Encode(new ReplicaStatus { Phase = Phase.Pending, LastTransitionAt = at })));
            }

            var result = await store.TxnAsync(new Txn(compares, puts, [TxnOp.Get(ownerKey)]), cancellationToken);
            if (result.Succeeded)
            {
                ids.AddRange(chunkIds);
                continue;
            }

            if (result.Results[0].Kv?.ModRevision != ownerModRevision)
            {
                throw new ReconcileConflictException($"{ownerKind} {owner} changed");
            }

            // An id drawn for this chunk (or drawn twice within it) is taken: one by one, each redrawn as needed.
            foreach (var spec in chunk)
            {
                ids.Add(await CreateAsync(store, ownerKind, owner, ownerKey, ownerModRevision, spec, now, cancellationToken));
            }
        }

        return ids;
    }

    /// <summary>Deletes a replica's spec and status keys, guarded on both being as they were read.</summary>
    public static async Task DeleteAsync(IStateStore store, ServiceReconciler.StoredReplica stored, CancellationToken cancellationToken)
    {
        var id = stored.Replica.Meta.Name;
        var specKey = StoreKeys.Replica(id);
        var statusKey = StoreKeys.ReplicaStatus(id);
        var result = await store.TxnAsync(
            new Txn(
                [Compare.ModRevision(specKey, stored.SpecModRevision), Compare.ModRevision(statusKey, stored.StatusModRevision)],
                [TxnOp.Delete(specKey), TxnOp.Delete(statusKey)],
                []),
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"replica {id} changed");
        }
    }
}
