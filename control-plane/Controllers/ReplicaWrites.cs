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
