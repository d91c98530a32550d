namespace Orchestrator.ControlPlane.Store;

/// <summary>
/// A key-value store with etcd's semantics: one cluster-wide revision that every write
/// increments, reads at a revision, compare-and-swap on a key's mod revision, multi-key
/// transactions, ordered watches from a past revision, and leases with a TTL.
/// Implementations: <c>SqliteStateStore</c> (embedded) and <c>EtcdStateStore</c>.
/// It knows nothing of the objects stored in it: keys are strings, values are bytes.
/// </summary>
public interface IStateStore : IAsyncDisposable
{
    /// <summary>A description for people and logs, e.g. <c>sqlite:///var/lib/orc/state.db</c>.</summary>
    string Description { get; }

    /// <summary>The store's current revision (the revision of the last write).</summary>
    Task<long> GetRevisionAsync(CancellationToken cancellationToken = default);

    /// <summary>Reads one key, at <paramref name="atRevision"/> or (0) the current revision.</summary>
    Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists every key starting with <paramref name="prefix"/>, in key order, at
    /// <paramref name="atRevision"/> or (0) the current revision. <paramref name="limit"/> 0 means no limit.
    /// Throws <see cref="RevisionCompactedException"/> for a revision older than the compaction point.
    /// </summary>
    Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a transaction atomically: if every comparison holds, the success operations
    /// run, otherwise the failure operations. All writes of one transaction share one revision.
    /// A branch may put a key at most once and may not put a key it also deletes (etcd's rule):
    /// such a transaction is refused with <see cref="ArgumentException"/> and changes nothing.
    /// </summary>
    Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams every change to keys under <paramref name="prefix"/> with revision ≥
    /// <paramref name="fromRevision"/> (0: only changes after the store has set the watch up, at the
    /// first <c>MoveNextAsync</c>; a caller that must miss nothing passes a read's revision + 1), in revision order,
    /// each exactly once, until cancelled. Events of one transaction arrive together, in key order.
    /// The sequence throws <see cref="RevisionCompactedException"/> if <paramref name="fromRevision"/>
    /// has been compacted away, and <see cref="StoreUnavailableException"/> if the store is lost.
    /// Cancelling ends it with <see cref="OperationCanceledException"/>; disposing the store ends it normally.
    /// </summary>
    IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="WatchAsync"/>, and every event also carries <see cref="WatchEvent.PrevKv"/>,
    /// the value before the change (null when the key did not exist). On etcd this costs a
    /// read per watcher per event, so ask for it only when the previous value is needed.
    /// </summary>
    IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default);

    /// <summary>Grants a lease. Keys put with it are deleted when it expires or is revoked.</summary>
    Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Renews a lease to its full TTL. Throws <see cref="LeaseNotFoundException"/> if it expired.</summary>
    Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>Revokes a lease and deletes its keys (one revision). Revoking an unknown lease is not an error.</summary>
    Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Discards history before <paramref name="revision"/>: reads and watches at older revisions
    /// then fail with <see cref="RevisionCompactedException"/>. The current value of every key is kept.
    /// </summary>
    Task CompactAsync(long revision, CancellationToken cancellationToken = default);
}

/// <summary>A stored key with etcd's revision bookkeeping.</summary>
/// <param name="CreateRevision">Revision at which the key was (last) created.</param>
/// <param name="ModRevision">Revision of the last write to the key; the CAS token.</param>
/// <param name="Version">Writes since creation (1 after the first put).</param>
/// <param name="Lease">Lease the key is attached to, 0 for none.</param>
public sealed record KeyValue(string Key, byte[] Value, long CreateRevision, long ModRevision, long Version, long Lease);

public sealed record GetResult(KeyValue? Kv, long Revision);

public sealed record ListResult(IReadOnlyList<KeyValue> Items, long Revision, bool More);

public sealed record Lease(long Id, TimeSpan Ttl);

public enum WatchEventType
{
    Put,
    Delete,
}

/// <summary>
/// One change. For a delete, <see cref="Kv"/> has the key, an empty value and
/// <see cref="KeyValue.ModRevision"/> = the revision of the delete.
/// <see cref="PrevKv"/> is the value before the change when the watch asked for it
/// (<see cref="IStateStore.WatchWithPreviousAsync"/>); other watches may leave it null.
/// </summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Kv, KeyValue? PrevKv)
{
    public long Revision => Kv.ModRevision;
}

/// <summary>A comparison in a transaction's guard.</summary>
public abstract record Compare(string Key)
{
    /// <summary>Holds when the key's mod revision equals <paramref name="modRevision"/> (0: the key does not exist).</summary>
    public static Compare ModRevision(string key, long modRevision) => new ModRevisionCompare(key, modRevision);

    /// <summary>Holds when the key does not exist.</summary>
    public static Compare Absent(string key) => new ModRevisionCompare(key, 0);

    /// <summary>Holds when the key exists with exactly this value.</summary>
    public static Compare ValueEquals(string key, byte[] value) => new ValueCompare(key, value);
}

public sealed record ModRevisionCompare(string Key, long Expected) : Compare(Key);

public sealed record ValueCompare(string Key, byte[] Expected) : Compare(Key);

/// <summary>An operation in a transaction.</summary>
public abstract record TxnOp
{
    public static TxnOp Put(string key, byte[] value, long lease = 0) => new PutOp(key, value, lease);

    public static TxnOp Delete(string key) => new DeleteOp(key);

    /// <summary>Deletes every key starting with the prefix.</summary>
    public static TxnOp DeletePrefix(string prefix) => new DeletePrefixOp(prefix);

    public static TxnOp Get(string key) => new GetOp(key);
}

public sealed record PutOp(string Key, byte[] Value, long Lease) : TxnOp;

public sealed record DeleteOp(string Key) : TxnOp;

public sealed record DeletePrefixOp(string Prefix) : TxnOp;

public sealed record GetOp(string Key) : TxnOp;

/// <summary>A transaction: if every comparison in <see cref="If"/> holds, run <see cref="Then"/>, else <see cref="Else"/>.</summary>
public sealed record Txn(IReadOnlyList<Compare> If, IReadOnlyList<TxnOp> Then, IReadOnlyList<TxnOp> Else)
{
    public static Txn Unconditional(params TxnOp[] ops) => new([], ops, []);
}

/// <summary>The result of one operation, in the order of the branch that ran.</summary>
/// <param name="Kv">For a get: the key's value (null if absent). For a put: null.</param>
/// <param name="Deleted">For a delete: how many keys it removed.</param>
public sealed record OpResult(KeyValue? Kv, int Deleted);

/// <param name="Succeeded">Whether the comparisons held (the Then branch ran).</param>
/// <param name="Revision">The store revision after the transaction (the new revision if it wrote).</param>
public sealed record TxnResult(bool Succeeded, long Revision, IReadOnlyList<OpResult> Results);

/// <summary>Base of the store's own errors; each message says what happened and what to do.</summary>
public class StateStoreException : Exception
{
    public StateStoreException(string message) : base(message) { }

    public StateStoreException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A read or watch asked for history that compaction has discarded.</summary>
public sealed class RevisionCompactedException(long requested, long compactedThrough)
    : StateStoreException($"revision {requested} has been compacted (history before revision {compactedThrough} is gone); list the current state and watch from its revision instead")
{
    public long Requested { get; } = requested;

    public long CompactedThrough { get; } = compactedThrough;
}

/// <summary>A read asked for a revision the store has not reached yet.</summary>
public sealed class FutureRevisionException(long requested, long current)
    : StateStoreException($"revision {requested} is in the future (the store is at revision {current})")
{
    public long Requested { get; } = requested;

    public long Current { get; } = current;
}

public sealed class LeaseNotFoundException(long leaseId)
    : StateStoreException($"lease {leaseId} does not exist (it expired or was revoked); grant a new lease")
{
    public long LeaseId { get; } = leaseId;
}

/// <summary>The store cannot be reached or has failed; the operation may be retried.</summary>
public sealed class StoreUnavailableException : StateStoreException
{
    public StoreUnavailableException(string message) : base(message) { }

    public StoreUnavailableException(string message, Exception inner) : base(message, inner) { }
}
