using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Leadership;

/// <summary>
/// The store as leader-only work sees it: reads, watches and leases pass through, and every
/// transaction also compares the leader key's mod revision with the current term's revision
/// (the key is never rewritten during a term, so that is its create revision). A write by a
/// control plane that was deposed (its lease expired while it was paused or cut off, and another
/// won) therefore changes nothing: the transaction fails on that comparison, the term ends, and
/// the caller gets a <see cref="LeadershipLostException"/> saying so. Writing without a term
/// fails the same way. The API's own writes (apply, scale, node streams) do not go through here.
/// </summary>
public sealed class FencedStateStore(IStateStore inner, LeaderElector elector) : IStateStore
{
    /// <summary>Fenced transactions refused because this control plane did not hold the term.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    private long _refused;

    public string Description => inner.Description;

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default) => inner.GetRevisionAsync(cancellationToken);

    public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default) =>
        inner.GetAsync(key, atRevision, cancellationToken);

    public Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default) =>
        inner.ListAsync(prefix, atRevision, limit, cancellationToken);

    public async Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(txn);
        var term = elector.CurrentTerm;
        if (term is null)
        {
            Interlocked.Increment(ref _refused);
            throw new LeadershipLostException($"control plane {elector.MemberId} does not lead, so it may not write as the leader; the control plane that holds {LeaderElector.LeaderKey} does this work");
        }

        var key = LeaderElector.LeaderKey;
        var fenced = new Txn(
            [.. txn.If, Compare.ModRevision(key, term.Revision)],
            txn.Then,
            [.. txn.Else, TxnOp.Get(key)]);
        var result = await inner.TxnAsync(fenced, cancellationToken);
        if (result.Succeeded)
        {
            return result;
        }

        var leader = result.Results[^1].Kv;
        if (leader is null || leader.ModRevision != term.Revision)
        {
            Interlocked.Increment(ref _refused);
            var reason = leader is null
                ? $"{key} no longer exists (the lease of term {term.Revision} expired)"
                : $"{key} now belongs to term {leader.CreateRevision}";
            elector.Resign(term, "a fenced write was refused: " + reason);
            throw new LeadershipLostException($"control plane {elector.MemberId} was deposed and wrote nothing: {reason}; the new leader carries on");
        }

        // The caller's own comparisons failed: hand back its results without the leader key read.
        return result with { Results = result.Results.Take(result.Results.Count - 1).ToList() };
    }

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        inner.WatchAsync(prefix, fromRevision, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        inner.WatchWithPreviousAsync(prefix, fromRevision, cancellationToken);

    public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => inner.GrantLeaseAsync(ttl, cancellationToken);

    public Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default) => inner.KeepAliveAsync(leaseId, cancellationToken);

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public Task CompactAsync(long revision, CancellationToken cancellationToken = default) => inner.CompactAsync(revision, cancellationToken);

    /// <summary>The inner store belongs to the host, not to this view of it.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
