using System.Diagnostics;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.Bench;

/// <summary>
/// A store in front of the control plane's that counts lease renewals and keeps, per lease, the
/// longest time between two renewals. Every heartbeat a node sends renews its liveness lease
/// (the leader renews its own lease too), so this is what the control plane heard: how many
/// heartbeats it handled, and how close the slowest node came to its grace. Everything else
/// passes through.
/// </summary>
internal sealed class RenewalCountingStore(IStateStore inner) : IStateStore
{
    private readonly Dictionary<long, long> _last = [];
    private readonly Lock _lock = new();
    private long _renewals;
    private long _longestTicks;

    public string Description => inner.Description;

    /// <summary>Renewals so far, leases renewed at least once, and the longest gap between two renewals of one lease.</summary>
    public (long Renewals, int Leases, TimeSpan LongestGap) Snapshot()
    {
        lock (_lock)
        {
            return (_renewals, _last.Count, Stopwatch.GetElapsedTime(0, _longestTicks));
        }
    }

    /// <summary>Starts a new measuring window: counts from zero, gaps measured from each lease's next renewal.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _renewals = 0;
            _longestTicks = 0;
            _last.Clear();
        }
    }

    public async Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        var lease = await inner.KeepAliveAsync(leaseId, cancellationToken);
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _renewals++;
            if (_last.TryGetValue(leaseId, out var previous))
            {
                _longestTicks = Math.Max(_longestTicks, now - previous);
            }

            _last[leaseId] = now;
        }

        return lease;
    }

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default) => inner.GetRevisionAsync(cancellationToken);

    public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default) =>
        inner.GetAsync(key, atRevision, cancellationToken);

    public Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default) =>
        inner.ListAsync(prefix, atRevision, limit, cancellationToken);

    public Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default) => inner.TxnAsync(txn, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        inner.WatchAsync(prefix, fromRevision, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        inner.WatchWithPreviousAsync(prefix, fromRevision, cancellationToken);

    public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => inner.GrantLeaseAsync(ttl, cancellationToken);

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public Task CompactAsync(long revision, CancellationToken cancellationToken = default) => inner.CompactAsync(revision, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
