using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// Runs one controller: lists every key, then starts N workers on a <see cref="WorkQueue{TKey}"/>
/// while a store watch enqueues the keys each change touches and a resync on a
/// <see cref="PeriodicTimer"/> (from the <see cref="TimeProvider"/>) enqueues every key again.
/// Workers never see a watch event: they reconcile a key from the store's current state.
/// <para>
/// The first pass waits for the initial list, so a controller never acts on a partial view.
/// A watch that fails (store unavailable, history compacted) is replaced by a fresh list and
/// a new watch from its revision: nothing is missed because every listed key is reconciled.
/// </para>
/// </summary>
public sealed partial class ControllerHost<TKey> : IDisposable
    where TKey : notnull
{
    private readonly IReconciler<TKey> _reconciler;
    private readonly IControllerSource<TKey> _source;
    private readonly IStateStore _store;
    private readonly TimeProvider _time;
    private readonly ControllerOptions _options;
    private readonly int _workers;
    private readonly ILogger _logger;

    public ControllerHost(IReconciler<TKey> reconciler, IControllerSource<TKey> source, IStateStore store, TimeProvider time, ControllerOptions options, int workers, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        _reconciler = reconciler;
        _source = source;
        _store = store;
        _time = time;
        _options = options;
        _workers = workers;
        _logger = logger;
        Queue = new WorkQueue<TKey>(time, options.RetryBaseDelay, options.RetryMaxDelay);
    }

    /// <summary>The queue the workers take keys from; adding a key here asks for a pass.</summary>
    public WorkQueue<TKey> Queue { get; }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled; then workers finish their current pass and stop.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var revision = await ListAndEnqueueAsync(cancellationToken);
        if (revision < 0)
        {
            return;
        }

        var tasks = new List<Task>
        {
            WatchAsync(revision, cancellationToken),
            ResyncAsync(cancellationToken),
        };
        for (var i = 0; i < _workers; i++)
        {
            tasks.Add(WorkAsync(cancellationToken));
        }

        try
        {
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            Queue.ShutDown();
        }
    }

    /// <summary>One worker: take a key, reconcile it, requeue it as the result or a failure says.</summary>
    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TKey key;
            try
            {
                key = await Queue.GetAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                var result = await _reconciler.ReconcileAsync(key, cancellationToken);
                Queue.Forget(key);
                if (result.RequeueAfter is { } delay)
                {
                    Queue.AddAfter(key, delay);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ReconcileConflictException e)
            {
                var delay = Queue.AddRateLimited(key);
                LogConflict(_logger, _reconciler.Name, key.ToString() ?? "", e.Message, delay.TotalMilliseconds);
            }
#pragma warning disable CA1031 // A controller survives any failure of one pass: the key is retried with backoff.
            catch (Exception e)
#pragma warning restore CA1031
            {
                var delay = Queue.AddRateLimited(key);
                LogFailed(_logger, e, _reconciler.Name, key.ToString() ?? "", Queue.Failures(key), delay.TotalMilliseconds);
            }
            finally
            {
                Queue.Done(key);
            }
        }
    }

    private async Task WatchAsync(long revision, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var change in _store.WatchAsync(_source.WatchPrefix, revision + 1, cancellationToken))
                {
                    revision = change.Revision;
                    foreach (var key in _source.KeysOf(change))
                    {
                        Queue.Add(key);
                    }
                }

                // The store was disposed: the host is stopping.
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (StateStoreException e)
            {
                LogWatchFailed(_logger, _reconciler.Name, e.Message);
                await Task.Delay(_options.WatchRetryDelay, _time, cancellationToken);
                var listed = await ListAndEnqueueAsync(cancellationToken);
                if (listed < 0)
                {
                    return;
                }

                revision = listed;
            }
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ResyncInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            await ListAndEnqueueAsync(cancellationToken);
        }
    }

    /// <summary>Lists and enqueues every key, retrying while the store is unavailable; the revision listed at, or -1 when stopping.</summary>
    private async Task<long> ListAndEnqueueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                var (keys, revision) = await _source.ListKeysAsync(cancellationToken);
                foreach (var key in keys)
                {
                    Queue.Add(key);
                }

                return revision;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return -1;
            }
#pragma warning disable CA1031 // The controller outlives a failed list (store down, an undecodable value): it lists again.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogListFailed(_logger, _reconciler.Name, e.Message);
                try
                {
                    await Task.Delay(_options.WatchRetryDelay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return -1;
                }
            }
        }
    }

    public void Dispose() => Queue.Dispose();

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "{Controller} controller: pass for {Key} failed ({Failures} in a row); retrying in {DelayMs} ms")]
    private static partial void LogFailed(ILogger logger, Exception exception, string controller, string key, int failures, double delayMs);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Debug, Message = "{Controller} controller: {Key} changed under the pass ({Reason}); deciding again in {DelayMs} ms")]
    private static partial void LogConflict(ILogger logger, string controller, string key, string reason, double delayMs);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "{Controller} controller: store watch ended ({Reason}); listing again")]
    private static partial void LogWatchFailed(ILogger logger, string controller, string reason);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "{Controller} controller: cannot list the store ({Reason}); retrying")]
    private static partial void LogListFailed(ILogger logger, string controller, string reason);
}
