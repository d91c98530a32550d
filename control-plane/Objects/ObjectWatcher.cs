using System.Runtime.CompilerServices;
using Orchestrator.ControlPlane.Store;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>
/// Turns the store's key watch into a watch of merged objects of one kind.
/// <para>
/// From revision 0 it lists the current objects at one revision R, sends them as ADDED,
/// then a SYNCED marker carrying R, then every change from R + 1: no gap, no duplicate.
/// From revision N it reads the objects as they were at N (so a later status change can
/// be merged with its spec) and sends every change after N; a compacted N fails with
/// <see cref="RevisionCompactedException"/>.
/// </para>
/// <para>
/// A kind with status keys is watched on the common root of its spec and status prefixes,
/// in one store watch, so spec and status changes arrive in the store's revision order.
/// A spec put is ADDED or MODIFIED, a spec delete DELETED (with the last known object),
/// and a status change MODIFIED of the merged object.
/// </para>
/// </summary>
public sealed class ObjectWatcher(IStateStore store)
{
    public async IAsyncEnumerable<V1.WatchEvent> WatchAsync(
        ObjectKindInfo kind,
        string? name,
        string? owner,
        long fromRevision,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (!string.IsNullOrEmpty(name))
        {
            kind.ValidateName(name);
        }

        if (fromRevision < 0)
        {
            throw new InvalidObjectRequestException($"from_revision must be 0 or more, not {fromRevision}");
        }

        var ownerFilter = ClusterObjects.ParseOwner(owner);
        var namePrefix = string.IsNullOrEmpty(name) ? "" : name;

        // The known state: spec and status key per object name, as of the last event sent.
        var specs = new Dictionary<string, KeyValue>(StringComparer.Ordinal);
        var statuses = new Dictionary<string, KeyValue>(StringComparer.Ordinal);

        var list = await store.ListAsync(kind.SpecPrefix + namePrefix, fromRevision, 0, cancellationToken);
        foreach (var kv in list.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, kind.SpecPrefix, out var specName))
            {
                specs[specName] = kv;
            }
        }

        if (kind.StatusPrefix is { } statusPrefix)
        {
            var statusList = await store.ListAsync(statusPrefix + namePrefix, list.Revision, 0, cancellationToken);
            foreach (var kv in statusList.Items)
            {
                if (StoreKeys.TryNameOf(kv.Key, statusPrefix, out var statusName))
                {
                    statuses[statusName] = kv;
                }
            }
        }

        bool Selected(string objectName, V1.Object obj) =>
            (string.IsNullOrEmpty(name) || objectName == name)
            && (ownerFilter is null || kind.OwnerOf(obj) == ownerFilter);

        var revision = fromRevision == 0 ? list.Revision : fromRevision;
        if (fromRevision == 0)
        {
            foreach (var (objectName, spec) in specs.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var obj = kind.Merge(spec, statuses.GetValueOrDefault(objectName));
                if (Selected(objectName, obj))
                {
                    yield return new V1.WatchEvent { Type = V1.WatchEventType.Added, Object = obj, Revision = revision };
                }
            }

            yield return new V1.WatchEvent { Type = V1.WatchEventType.Synced, Revision = revision };
        }

        await foreach (var change in store.WatchAsync(kind.WatchPrefix, revision + 1, cancellationToken))
        {
            var key = change.Kv.Key;
            if (StoreKeys.TryNameOf(key, kind.SpecPrefix, out var specName))
            {
                if (change.Type == StoreWatchEventType.Put)
                {
                    var existed = specs.ContainsKey(specName);
                    specs[specName] = change.Kv;
                    var obj = kind.Merge(change.Kv, statuses.GetValueOrDefault(specName));
                    if (Selected(specName, obj))
                    {
                        yield return new V1.WatchEvent { Type = existed ? V1.WatchEventType.Modified : V1.WatchEventType.Added, Object = obj, Revision = change.Revision };
                    }
                }
                else if (specs.Remove(specName, out var last))
                {
                    var obj = kind.Merge(last, statuses.GetValueOrDefault(specName));
                    if (Selected(specName, obj))
                    {
                        yield return new V1.WatchEvent { Type = V1.WatchEventType.Deleted, Object = obj, Revision = change.Revision };
                    }
                }
            }
            else if (kind.StatusPrefix is { } prefix && StoreKeys.TryNameOf(key, prefix, out var statusName))
            {
                if (change.Type == StoreWatchEventType.Put)
                {
                    statuses[statusName] = change.Kv;
                }
                else
                {
                    statuses.Remove(statusName);
                }

                if (specs.TryGetValue(statusName, out var spec))
                {
                    var obj = kind.Merge(spec, statuses.GetValueOrDefault(statusName));
                    obj = WithResourceVersion(obj, change.Revision);
                    if (Selected(statusName, obj))
                    {
                        yield return new V1.WatchEvent { Type = V1.WatchEventType.Modified, Object = obj, Revision = change.Revision };
                    }
                }
            }
        }
    }

    /// <summary>A deleted status key leaves no mod revision behind; the object still changed at the delete's revision.</summary>
    private static V1.Object WithResourceVersion(V1.Object obj, long revision)
    {
        var meta = obj.KindCase switch
        {
            V1.Object.KindOneofCase.Service => obj.Service.Meta,
            V1.Object.KindOneofCase.Job => obj.Job.Meta,
            V1.Object.KindOneofCase.Replica => obj.Replica.Meta,
            V1.Object.KindOneofCase.Node => obj.Node.Meta,
            _ => null,
        };
        if (meta is not null && meta.ResourceVersion < revision)
        {
            meta.ResourceVersion = revision;
        }

        return obj;
    }
}
