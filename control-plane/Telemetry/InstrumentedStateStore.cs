using System.Diagnostics;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Telemetry;

/// <summary>
/// Wraps a store to record <c>orc.controlplane.store.operation.duration</c> for every
/// request-shaped operation (watches are long-lived and not timed). Disposing it disposes the store.
/// </summary>
public sealed class InstrumentedStateStore(IStateStore inner, ControlPlaneTelemetry telemetry) : IStateStore
{
    public IStateStore Inner => inner;

    public string Description => inner.Description;

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default) =>
        TimeAsync("revision", () => inner.GetRevisionAsync(cancellationToken));

    public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default) =>
        TimeAsync("get", () => inner.GetAsync(key, atRevision, cancellationToken));

    public Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default) =>
        TimeAsync("list", () => inner.ListAsync(prefix, atRevision, limit, cancellationToken));

    public Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default) =>
        TimeAsync("txn", () => inner.TxnAsync(txn, cancellationToken));

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        inner.WatchAsync(prefix, fromRevision, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        inner.WatchWithPreviousAsync(prefix, fromRevision, cancellationToken);

    public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) =>
        TimeAsync("lease-grant", () => inner.GrantLeaseAsync(ttl, cancellationToken));

    public Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default) =>
        TimeAsync("lease-keepalive", () => inner.KeepAliveAsync(leaseId, cancellationToken));

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) =>
        TimeAsync("lease-revoke", async () =>
        {
            await inner.RevokeLeaseAsync(leaseId, cancellationToken);
            return true;
        });

    public Task CompactAsync(long revision, CancellationToken cancellationToken = default) =>
        TimeAsync("compact", async () =>
        {
            await inner.CompactAsync(revision, cancellationToken);
            return true;
        });

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private async Task<T> TimeAsync<T>(string operation, Func<Task<T>> run)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            return await run();
        }
        finally
        {
            telemetry.StoreOperationDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, new KeyValuePair<string, object?>("operation", operation));
        }
    }
}
