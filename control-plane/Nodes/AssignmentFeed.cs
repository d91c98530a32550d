using System.Runtime.CompilerServices;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// What a node must run: the full set of replicas bound to it at one store revision, then
/// deltas from a store watch that starts right after that revision (no gap, no polling).
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
            if (obj.Replica.Spec?.Node == node)
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
            if (replica.Spec?.Node == node)
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
}
