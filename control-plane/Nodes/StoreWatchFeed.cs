using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// What <see cref="AssignmentFeed"/> and <see cref="EndpointsFeed"/> share: one store list and
/// watch under a prefix, serving every node stream of this control plane. The feed starts with
/// its first subscriber (list, then a watch from the list's revision + 1, so no change is missed);
/// if the watch fails it ends every subscription (their agents reconnect into a fresh full set)
/// and starts again, from a fresh list, with the next subscriber.
/// </summary>
public abstract class StoreWatchFeed(IStateStore store, string prefix, string what) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource? _ready;
    private Task _run = Task.CompletedTask;

    protected IStateStore Store { get; } = store;

    /// <summary>Guards the feed's state and its subscribers; the watch applies changes under it.</summary>
    protected Lock Gate { get; } = new();

    /// <summary>The store revision the feed has applied (read and written under <see cref="Gate"/>).</summary>
    protected long Revision { get; set; }

    /// <summary>
    /// Starts the feed if it is not running, waits until it has listed, then runs
    /// <paramref name="attach"/> under <see cref="Gate"/> (where a subscriber is added and gets its
    /// starting point); if the feed failed in between, starts it once more.
    /// </summary>
    protected async Task<T> AttachAsync<T>(Func<T> attach, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attach);
        while (true)
        {
            await EnsureRunningAsync(cancellationToken);
            lock (Gate)
            {
                if (_ready is { Task.IsCompletedSuccessfully: true })
                {
                    return attach();
                }
            }
        }
    }

    /// <summary>Replaces the feed's state with what the list holds (called under <see cref="Gate"/>; the revision is set after).</summary>
    protected abstract void Load(ListResult list);

    /// <summary>Applies one watched change, in revision order (takes <see cref="Gate"/> itself).</summary>
    protected abstract ValueTask ApplyAsync(WatchEvent change, CancellationToken cancellationToken);

    /// <summary>Ends every subscription with <paramref name="error"/> and forgets them (called under <see cref="Gate"/>).</summary>
    protected abstract void EndSubscribers(Exception error);

    /// <summary>Logs that the watch failed (not called when the feed is being disposed).</summary>
    protected abstract void LogFailed(Exception error);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    private Task EnsureRunningAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource ready;
        lock (Gate)
        {
            ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
            if (_ready is null)
            {
                _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var started = _ready;
                _run = Task.Run(() => RunAsync(started), CancellationToken.None);
            }

            ready = _ready;
        }

        return ready.Task.WaitAsync(cancellationToken);
    }

    private async Task RunAsync(TaskCompletionSource ready)
    {
        var token = _stopping.Token;
        try
        {
            var list = await Store.ListAsync(prefix, 0, 0, token);
            lock (Gate)
            {
                Load(list);
                Revision = list.Revision;
            }

            ready.TrySetResult();
            await foreach (var change in Store.WatchAsync(prefix, list.Revision + 1, token))
            {
                await ApplyAsync(change, token);
            }

            throw new StateStoreException($"the store ended the watch on {what}");
        }
        catch (Exception e)
        {
            if (!token.IsCancellationRequested)
            {
                LogFailed(e);
            }

            // Subscribers missed whatever comes next: end them, their agents reconnect into a full set.
            lock (Gate)
            {
                ready.TrySetException(e);
                if (ReferenceEquals(_ready, ready))
                {
                    // The next subscriber starts the feed again from a fresh list.
                    _ready = null;
                }

                EndSubscribers(e);
            }
        }
    }
}
