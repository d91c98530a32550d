using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Tests.Store;

/// <summary>
/// A real store with another writer that gets in just before each of the first <c>times</c>
/// transactions (it sees the transaction about to be sent, to aim at its keys).
/// </summary>
internal sealed class InterferingStore(IStateStore inner, int times, Func<IStateStore, Txn, Task> interfere) : IStateStore
{
    public int Transactions { get; private set; }

    public string Description => inner.Description;

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default) => inner.GetRevisionAsync(cancellationToken);

    public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default) => inner.GetAsync(key, atRevision, cancellationToken);

    public Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, atRevision, limit, cancellationToken);

    public async Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default)
    {
        if (Transactions++ < times)
        {
            await interfere(inner, txn);
        }

        return await inner.TxnAsync(txn, cancellationToken);
    }

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) => inner.WatchAsync(prefix, fromRevision, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) => inner.WatchWithPreviousAsync(prefix, fromRevision, cancellationToken);

    public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => inner.GrantLeaseAsync(ttl, cancellationToken);

    public Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default) => inner.KeepAliveAsync(leaseId, cancellationToken);

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public Task CompactAsync(long revision, CancellationToken cancellationToken = default) => inner.CompactAsync(revision, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
