using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>A list of objects and the store revision it was read at (watch from revision + 1 for no gap).</summary>
public sealed record ObjectList(IReadOnlyList<V1.Object> Items, long Revision);

/// <summary>
/// Typed reads over the store: each object is its spec key merged with its status key,
/// both read at one store revision, with <c>meta.resource_version</c> set to the newer
/// of the two keys' mod revisions.
/// </summary>
public sealed class ClusterObjects(IStateStore store)
{
    public IStateStore Store => store;

    /// <exception cref="ObjectNotFoundException">No object of that kind has that name.</exception>
    public async Task<(V1.Object Object, long Revision)> GetAsync(ObjectKindInfo kind, string name, CancellationToken cancellationToken = default)
    {
        kind.ValidateName(name);
        var spec = await store.GetAsync(kind.SpecKey(name), 0, cancellationToken);
        if (spec.Kv is null)
        {
            throw new ObjectNotFoundException(kind.Singular, name);
        }

        KeyValue? status = null;
        if (kind.StatusKey(name) is { } statusKey)
        {
            status = (await store.GetAsync(statusKey, spec.Revision, cancellationToken)).Kv;
        }

        return (kind.Merge(spec.Kv, status), spec.Revision);
    }

    /// <summary>Lists the objects of a kind, optionally only those of one owner (<c>service/web</c>) or whose name starts with a prefix.</summary>
    /// <param name="atRevision">0 for the current revision.</param>
    public async Task<ObjectList> ListAsync(ObjectKindInfo kind, string? owner = null, string? namePrefix = null, long atRevision = 0, CancellationToken cancellationToken = default)
    {
        var ownerFilter = ParseOwner(owner);
        namePrefix ??= "";
        if (namePrefix.Contains('/', StringComparison.Ordinal))
        {
            throw new InvalidObjectRequestException($"name prefix \"{namePrefix}\" must not contain '/'");
        }

        var specs = await store.ListAsync(kind.SpecPrefix + namePrefix, atRevision, 0, cancellationToken);
        var statuses = new Dictionary<string, KeyValue>(StringComparer.Ordinal);
        if (kind.StatusPrefix is { } statusPrefix)
        {
            var list = await store.ListAsync(statusPrefix + namePrefix, specs.Revision, 0, cancellationToken);
            foreach (var kv in list.Items)
            {
                statuses[StoreKeys.NameOf(kv.Key, statusPrefix)] = kv;
            }
        }

        var items = new List<V1.Object>(specs.Items.Count);
        foreach (var kv in specs.Items)
        {
            var name = StoreKeys.NameOf(kv.Key, kind.SpecPrefix);
            if (name.Contains('/', StringComparison.Ordinal))
            {
                // A key nested deeper than one name is not an object of this kind.
                continue;
            }

            var obj = kind.Merge(kv, statuses.GetValueOrDefault(name));
            if (ownerFilter is null || kind.OwnerOf(obj) == ownerFilter)
            {
                items.Add(obj);
            }
        }

        return new ObjectList(items, specs.Revision);
    }

    /// <summary>
    /// Normalizes an owner filter to <c>kind/name</c> with a singular kind
    /// (<c>services/web</c> becomes <c>service/web</c>); null or empty means no filter.
    /// </summary>
    /// <exception cref="InvalidObjectRequestException">The owner is not of the form kind/name.</exception>
    public static string? ParseOwner(string? owner)
    {
        if (string.IsNullOrWhiteSpace(owner))
        {
            return null;
        }

        var slash = owner.IndexOf('/', StringComparison.Ordinal);
        var kind = slash > 0 ? ObjectKindInfo.Parse(owner[..slash]) : null;
        var name = slash > 0 ? owner[(slash + 1)..] : "";
        if (kind is null || name.Length == 0 || name.Contains('/', StringComparison.Ordinal))
        {
            throw new InvalidObjectRequestException($"owner \"{owner}\" must look like kind/name, for example service/web or job/report");
        }

        return $"{kind.Singular}/{name}";
    }
}
