using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>The outcome of <see cref="ObjectCommands.ScaleAsync"/>.</summary>
public sealed record ScaleOutcome(int Previous, int Replicas, long Generation, long Revision);

/// <summary>
/// Writes other than apply: delete, scale, and the reading of a service's history.
/// Every write is a compare-and-swap on the mod revision of the keys it read, retried
/// from a fresh read when another writer got there first.
/// </summary>
public sealed class ObjectCommands(IStateStore store, TimeProvider time)
{
    public const int MaxAttempts = 5;

    /// <summary>
    /// Deletes an object's spec and status in one transaction; for a service also its
    /// revision history. A node is deleted only while no agent is connected for it. A service's replicas and endpoints are not touched here: the
    /// controllers see the service gone and retire them (draining first), as they would
    /// for a scale to zero.
    /// </summary>
    /// <returns>The store revision of the delete.</returns>
    /// <exception cref="ObjectNotFoundException">Nothing of that kind has that name.</exception>
    public async Task<long> DeleteAsync(ObjectKindInfo kind, string name, CancellationToken cancellationToken = default)
    {
        kind.ValidateName(name);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var key = kind.SpecKey(name);
            var stored = await store.GetAsync(key, 0, cancellationToken);
            if (stored.Kv is null)
            {
                throw new ObjectNotFoundException(kind.Singular, name);
            }

            var guards = new List<Compare> { Compare.ModRevision(key, stored.Kv.ModRevision) };
            if (kind.Kind == ObjectKind.Node)
            {
                // A node whose agent holds a stream has a leased liveness key; deleting it would
                // only make the agent register it again. The guard keeps a reconnect from racing the delete.
                var liveness = StoreKeys.NodeLiveness(name);
                if ((await store.GetAsync(liveness, 0, cancellationToken)).Kv is not null)
                {
                    throw new ObjectStateException($"node \"{name}\" is connected; stop its agent (and drain it first if it runs replicas), then delete it");
                }

                guards.Add(Compare.Absent(liveness));
            }

            var ops = new List<TxnOp> { TxnOp.Delete(key) };
            if (kind.StatusKey(name) is { } statusKey)
            {
                ops.Add(TxnOp.Delete(statusKey));
            }

            if (kind.Kind == ObjectKind.Service)
            {
                ops.Add(TxnOp.DeletePrefix(StoreKeys.ServiceRevisions(name)));
            }

            if (kind.Kind == ObjectKind.Node)
            {
                ops.Add(TxnOp.Delete(StoreKeys.EndpointsAck(name)));
            }

            var result = await store.TxnAsync(new Txn(guards, ops, []), cancellationToken);
            if (result.Succeeded)
            {
                return result.Revision;
            }
        }

        throw Conflict($"delete {kind.Singular} \"{name}\"");
    }

    /// <summary>
    /// Sets a service's replica count (generation + 1, same template revision). Setting the
    /// count it already has writes nothing.
    /// </summary>
    /// <exception cref="InvalidObjectRequestException">The count is negative.</exception>
    /// <exception cref="ObjectNotFoundException">No such service.</exception>
    public async Task<ScaleOutcome> ScaleAsync(string service, int replicas, CancellationToken cancellationToken = default)
    {
        ObjectKindInfo.Service.ValidateName(service);
        if (replicas < 0)
        {
            throw new InvalidObjectRequestException($"replicas must be 0 or more, not {replicas}; use 0 to stop every replica of the service");
        }

        var key = StoreKeys.Service(service);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var stored = await store.GetAsync(key, 0, cancellationToken);
            if (stored.Kv is null)
            {
                throw new ObjectNotFoundException("service", service);
            }

            var current = ProtoJson.Decode<V1.Service>(stored.Kv.Value, key);
            current.Meta ??= new ObjectMeta { Name = service };
            current.Spec ??= new ServiceSpec { Name = service };
            var previous = current.Spec.Replicas;
            if (previous == replicas)
            {
                return new ScaleOutcome(previous, replicas, current.Meta.Generation, 0);
            }

            current.Spec.Replicas = replicas;
            current.Meta.Generation++;
            current.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(time.GetUtcNow());
            current.Meta.ResourceVersion = 0;
            current.Status = null;
            var result = await store.TxnAsync(
                new Txn([Compare.ModRevision(key, stored.Kv.ModRevision)], [TxnOp.Put(key, ProtoJson.Encode(current))], []),
                cancellationToken);
            if (result.Succeeded)
            {
                return new ScaleOutcome(previous, replicas, current.Meta.Generation, result.Revision);
            }
        }

        throw Conflict($"scale service \"{service}\"");
    }

    /// <summary>A service's revisions, oldest first.</summary>
    /// <exception cref="ObjectNotFoundException">No such service.</exception>
    public async Task<IReadOnlyList<ServiceRevision>> HistoryAsync(string service, CancellationToken cancellationToken = default)
    {
        ObjectKindInfo.Service.ValidateName(service);
        var spec = await store.GetAsync(StoreKeys.Service(service), 0, cancellationToken);
        if (spec.Kv is null)
        {
            throw new ObjectNotFoundException("service", service);
        }

        var history = await store.ListAsync(StoreKeys.ServiceRevisions(service), spec.Revision, 0, cancellationToken);
        return history.Items
            .Select(kv => ProtoJson.Decode<ServiceRevision>(kv.Value, kv.Key))
            .OrderBy(r => r.Revision)
            .ToList();
    }

    private static ObjectConflictException Conflict(string what) =>
        new($"could not {what}: other writers kept changing it ({MaxAttempts} attempts); nothing was changed, try again");
}
