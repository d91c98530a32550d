using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// Writes the endpoints version each connected agent acknowledged to its own key,
/// <c>/orc/acks/endpoints/&lt;node&gt;</c>, where the leader's drain gate reads it whichever
/// control plane holds the node's stream (docs/adr/0008-drain-protocol.md).
/// <para>
/// One endpoints change makes every node ack, so acks are coalesced: the latest per node waits
/// in memory, and one loop writes everything waiting, up to <see cref="MaxAcksPerTxn"/> nodes per
/// transaction, after a short <see cref="NodeStreamOptions.EndpointsAckBatchWindow"/> and while
/// the previous batch is being written (group commit). At 1,000 nodes an endpoints change costs
/// about ten transactions, not a thousand. The keys are plain puts without compare-and-swap: each
/// node's key has one writer at a time (the control plane holding its stream), a newer ack replaces
/// an older one, and the node status (with its own CAS writers) is never touched.
/// </para>
/// </summary>
public sealed partial class EndpointsAckWriter(
    IStateStore store,
    NodeSessionRegistry registry,
    NodeStreamOptions streamOptions,
    ControlPlaneOptions options,
    TimeProvider time,
    ILogger<EndpointsAckWriter> logger) : BackgroundService
{
    /// <summary>etcd allows 128 operations per transaction by default; stay well below.</summary>
    public const int MaxAcksPerTxn = 100;

    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);

    /// <summary>How many transactions this control plane wrote acks in (for benchmarks and tests).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    private long _transactions;

    /// <summary>Acks that wait to be written (a node counts once, however often it acked).</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="node"/>'s ack of <paramref name="version"/>; a higher version waiting for the same node wins.</summary>
    public void Record(string node, long version)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        if (version <= 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_pending.TryGetValue(node, out var waiting) && waiting.Version >= version)
            {
                return;
            }

            _pending[node] = new Pending(version, time.GetUtcNow());
        }

        Signal();
    }

    /// <summary>Writes everything waiting now (the loop does this by itself; tests and shutdown call it).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        Dictionary<string, Pending> batch;
        lock (_lock)
        {
            if (_pending.Count == 0)
            {
                return;
            }

            batch = _pending;
            _pending = new Dictionary<string, Pending>(StringComparer.Ordinal);
        }

        try
        {
            await WriteAsync(batch, cancellationToken);
        }
        catch
        {
            Requeue(batch);
            throw;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await _signal.WaitAsync(stoppingToken);
                if (streamOptions.EndpointsAckBatchWindow > TimeSpan.Zero)
                {
                    // Let the other nodes' acks of the same change arrive, then write them together.
                    await Task.Delay(streamOptions.EndpointsAckBatchWindow, time, stoppingToken);
                }

                try
                {
                    await FlushAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Kept (a newer ack of a node replaces its waiting one) and written on the next try;
                    // whatever the store threw, this loop must outlive it, or acks would stop for good.
                    LogWriteFailed(logger, PendingCount, e.Message);
                    await Task.Delay(streamOptions.EndpointsAckRetryDelay, time, stoppingToken);
                    Signal();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: what waits is lost with the streams, and each agent acks again after it reconnects.
        }
    }

    private async Task WriteAsync(Dictionary<string, Pending> batch, CancellationToken cancellationToken)
    {
        // A node whose stream left this control plane is written by the one that holds it now.
        var nodes = batch.Where(p => registry.Find(p.Key) is not null).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        for (var i = 0; i < nodes.Count; i += MaxAcksPerTxn)
        {
            var ops = nodes.Skip(i).Take(MaxAcksPerTxn).Select(p => TxnOp.Put(
                StoreKeys.EndpointsAck(p.Key),
                ProtoJson.Encode(new NodeEndpointsAck
                {
                    Node = p.Key,
                    Version = p.Value.Version,
                    AckedAt = Timestamp.FromDateTimeOffset(p.Value.At),
                    ControlPlane = options.MemberId,
                }))).ToList();
            await store.TxnAsync(new Txn([], ops, []), cancellationToken);
            Interlocked.Increment(ref _transactions);
            lock (_lock)
            {
                // Written: only a newer ack of these nodes is still to write.
                foreach (var written in nodes.Skip(i).Take(MaxAcksPerTxn))
                {
                    batch.Remove(written.Key);
                }
            }

            LogWritten(logger, ops.Count);
        }
    }

    /// <summary>Puts back what a failed write did not store, unless a newer ack of the node came in meanwhile.</summary>
    private void Requeue(Dictionary<string, Pending> batch)
    {
        lock (_lock)
        {
            foreach (var (node, pending) in batch)
            {
                if (!_pending.TryGetValue(node, out var newer) || newer.Version < pending.Version)
                {
                    _pending[node] = pending;
                }
            }
        }
    }

    private void Signal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the next flush takes this ack too.
        }
    }

    public override void Dispose()
    {
        _signal.Dispose();
        base.Dispose();
    }

    private sealed record Pending(long Version, DateTimeOffset At);

    [LoggerMessage(EventId = 3060, Level = LogLevel.Debug, Message = "Wrote the endpoints acks of {Nodes} node(s) in one transaction")]
    private static partial void LogWritten(ILogger logger, int nodes);

    [LoggerMessage(EventId = 3061, Level = LogLevel.Warning, Message = "Could not write the endpoints acks of {Nodes} node(s) ({Error}); trying again")]
    private static partial void LogWriteFailed(ILogger logger, int nodes, string error);
}
