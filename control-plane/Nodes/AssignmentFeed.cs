using System.Runtime.CompilerServices;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// What a node must run: the full set of replicas bound to it at one store revision, then
/// deltas from a store watch that starts right after that revision (no gap, no polling).
/// A replica marked Lost is no longer the node's, though its spec still names the node: it is
/// left out of the set (the agent stops whatever runs that is not in it) and any later change to
/// it is sent as a removal. That is the fence for a node that comes back after being judged lost.
/// </summary>
public sealed class AssignmentFeed(IStateStore store, ClusterObjects objects)
{
    /// <summary>Every replica whose <c>spec.node</c> is <paramref name="node"/> (spec and status), and the revision read at.</summary>
    public async Task<AssignmentSet> ListAsync(string node, CancellationToken cancellationToken)
    {
        var list = await objects.ListAsync(ObjectKindInfo.Replica, cancellationToken: cancellationToken);
        var set = new AssignmentSet { Revision = list.Revision };
        foreach (var obj in list.Items)
        {
            if (obj.Replica.Spec?.Node == node && obj.Replica.Status?.Phase != Phase.Lost)
            {
                set.Assignments.Add(new Assignment { Replica = obj.Replica });
            }
        }

        return set;
    }

    /// <summary>
    /// Deltas after <paramref name="set"/>: an upsert when a replica is bound to the node or its
    /// spec changes, a removal when it is deleted or moved to another node.
    /// </summary>
    public async IAsyncEnumerable<AssignmentDelta> WatchAsync(string node, AssignmentSet set, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(set);
        var assigned = new HashSet<string>(set.Assignments.Select(a => a.Replica.Meta?.Name ?? ""), StringComparer.Ordinal);
        await foreach (var e in store.WatchAsync(StoreKeys.ReplicasPrefix, set.Revision + 1, cancellationToken))
        {
            var id = StoreKeys.NameOf(e.Kv.Key, StoreKeys.ReplicasPrefix);
            if (id.Length == 0 || id.Contains('/', StringComparison.Ordinal))
            {
                continue;
            }

            if (e.Type == StoreWatchEventType.Delete)
            {
                if (assigned.Remove(id))
                {
                    yield return new AssignmentDelta { Removed = { id }, Revision = e.Revision };
                }

                continue;
            }

            var replica = ProtoJson.Decode<Replica>(e.Kv.Value, e.Kv.Key);
            replica.Meta ??= new ObjectMeta { Name = id };
            replica.Meta.ResourceVersion = e.Kv.ModRevision;
            if (replica.Spec?.Node == node && !await IsLostAsync(id, e.Revision, cancellationToken))
            {
                assigned.Add(id);
                yield return new AssignmentDelta { Upserted = { new Assignment { Replica = replica } }, Revision = e.Revision };
            }
            else if (assigned.Remove(id))
            {
                yield return new AssignmentDelta { Removed = { id }, Revision = e.Revision };
            }
        }
    }

    /// <summary>Whether the replica's status said Lost at <paramref name="revision"/> (the status is written under its own key).</summary>
    private async Task<bool> IsLostAsync(string id, long revision, CancellationToken cancellationToken)
    {
        var status = await store.GetAsync(StoreKeys.ReplicaStatus(id), revision, cancellationToken);
        return status.Kv is not null && ProtoJson.Decode<ReplicaStatus>(status.Kv.Value, status.Kv.Key).Phase == Phase.Lost;
    }
}
