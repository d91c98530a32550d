using Microsoft.Extensions.Logging;

namespace Orchestrator.ControlPlane.Store;

/// <summary>Options of <see cref="HistoryCompactor"/>.</summary>
public sealed class HistoryCompactorOptions
{
    /// <summary>
    /// How often to compact, and how much history survives: each pass compacts to the
    /// revision the previous pass saw, so watches may resume from anything newer than one
    /// interval ago. Kubernetes' API server uses 5 minutes; so do we.
    /// </summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Keeps store history bounded. Every <see cref="HistoryCompactorOptions.Interval"/> it
/// compacts to the revision observed one interval earlier (the way the Kubernetes API
/// server drives etcd), so the current value of every key stays and recent history
/// remains available to watches that reconnect. Run it on one control plane at a time
/// (the leader); compacting twice to the same revision is harmless.
/// </summary>
public sealed partial class HistoryCompactor(IStateStore store, TimeProvider time, HistoryCompactorOptions options, ILogger<HistoryCompactor> logger)
{
    private long _seenLastPass;
    private long _compactedTo;

    /// <summary>Runs passes until cancelled. Failures are logged and retried next interval.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await CompactOnceAsync(cancellationToken);
                }
                catch (StateStoreException e)
                {
                    LogFailed(logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>
    /// One pass: compacts to the revision the previous pass observed (nothing on the first
    /// pass), then remembers the current revision for the next. Returns the revision
    /// compacted to, or 0 if none.
    /// </summary>
    public async Task<long> CompactOnceAsync(CancellationToken cancellationToken = default)
    {
        var target = _seenLastPass;
        _seenLastPass = await store.GetRevisionAsync(cancellationToken);
        if (target <= _compactedTo)
        {
            return 0;
        }

        try
        {
            await store.CompactAsync(target, cancellationToken);
        }
        catch (RevisionCompactedException)
        {
            // Another control plane (or an operator) compacted past this already.
            return 0;
        }

        _compactedTo = target;
        LogCompacted(logger, target, _seenLastPass);
        return target;
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Compacted store history before revision {Revision} (current revision {Current})")]
    private static partial void LogCompacted(ILogger logger, long revision, long current);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Store history compaction failed, will retry next interval: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
