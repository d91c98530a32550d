using Google.Protobuf;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>A message read from one key, with the key's mod revision: the token a CAS write compares.</summary>
public sealed record Stored<T>(string Key, T Value, long ModRevision)
    where T : IMessage<T>, new();

/// <summary>
/// Typed single-key access for writers of one key at a time (controllers writing status,
/// the node stream writing a replica's status): read a message with its mod revision, and
/// write it back only if nobody wrote in between. No read-modify-write without that guard.
/// </summary>
public sealed class MessageStore(IStateStore store)
{
    public IStateStore Store => store;

    /// <summary>The message at <paramref name="key"/>, or null if the key does not exist.</summary>
    public async Task<Stored<T>?> GetAsync<T>(string key, CancellationToken cancellationToken = default)
        where T : IMessage<T>, new()
    {
        var result = await store.GetAsync(key, 0, cancellationToken);
        return result.Kv is null ? null : new Stored<T>(key, ProtoJson.Decode<T>(result.Kv.Value, key), result.Kv.ModRevision);
    }

    /// <summary>Every message directly under <paramref name="prefix"/> (one name deep), in key order, and the revision read at.</summary>
    public async Task<(IReadOnlyList<Stored<T>> Items, long Revision)> ListAsync<T>(string prefix, long atRevision = 0, CancellationToken cancellationToken = default)
        where T : IMessage<T>, new()
    {
        var list = await store.ListAsync(prefix, atRevision, 0, cancellationToken);
        var items = list.Items
            .Where(kv => kv.Key.IndexOf('/', prefix.Length) < 0)
            .Select(kv => new Stored<T>(kv.Key, ProtoJson.Decode<T>(kv.Value, kv.Key), kv.ModRevision))
            .ToList();
        return (items, list.Revision);
    }

    /// <summary>
    /// Writes <paramref name="value"/> at <paramref name="key"/> if the key's mod revision is still
    /// <paramref name="expectedModRevision"/> (0: the key must not exist).
    /// </summary>
    /// <returns>The new mod revision, or null when another writer got there first (read again and decide again).</returns>
    public async Task<long?> PutAsync(string key, IMessage value, long expectedModRevision, long lease = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        var result = await store.TxnAsync(
            new Txn([Compare.ModRevision(key, expectedModRevision)], [TxnOp.Put(key, ProtoJson.Encode(value), lease)], []),
            cancellationToken);
        return result.Succeeded ? result.Revision : null;
    }

    /// <summary>Deletes <paramref name="key"/> if its mod revision is still <paramref name="expectedModRevision"/>; false when it changed or is gone.</summary>
    public async Task<bool> DeleteAsync(string key, long expectedModRevision, CancellationToken cancellationToken = default)
    {
        var result = await store.TxnAsync(
            new Txn([Compare.ModRevision(key, expectedModRevision)], [TxnOp.Delete(key)], []),
            cancellationToken);
        return result.Succeeded && expectedModRevision != 0;
    }
}
