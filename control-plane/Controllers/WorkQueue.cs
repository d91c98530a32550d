namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// The keys waiting for a reconcile pass, with the guarantees a controller relies on:
/// <list type="bullet">
/// <item>a key is queued at most once, however often it is added;</item>
/// <item>a key is never handed to two workers at a time: added while a worker has it, it
/// is queued again when that worker calls <see cref="Done"/>;</item>
/// <item>a failed key comes back after a capped exponential backoff
/// (<see cref="AddRateLimited"/>), timed on the injected <see cref="TimeProvider"/>.</item>
/// </list>
/// The same design as Kubernetes' client-go work queue: a "dirty" set (queued or to be
/// queued again), a "processing" set, and a FIFO of keys in neither.
/// </summary>
public sealed class WorkQueue<TKey> : IDisposable
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private readonly Queue<TKey> _queue = new();
    private readonly HashSet<TKey> _dirty = [];
    private readonly HashSet<TKey> _processing = [];
    private readonly Dictionary<TKey, int> _failures = [];
    private readonly Dictionary<TKey, (DateTimeOffset Due, ITimer Timer)> _waiting = [];
    private readonly SemaphoreSlim _available = new(0);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;

    public WorkQueue(TimeProvider time, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(baseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDelay, baseDelay);
        _time = time;
        _baseDelay = baseDelay;
        _maxDelay = maxDelay;
    }

    /// <summary>Keys queued and not handed out yet.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Keys waiting for a delay (a requeue or a backoff) to pass.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="key"/> unless it is already queued; if a worker has it, it is queued again once that worker is done.</summary>
    public void Add(TKey key)
    {
        lock (_lock)
        {
            if (_shutdown.IsCancellationRequested || !_dirty.Add(key))
            {
                return;
            }

            if (_processing.Contains(key))
            {
                return;
            }

            _queue.Enqueue(key);
        }

        _available.Release();
    }

    /// <summary>Queues <paramref name="key"/> after <paramref name="delay"/>; of several pending delays for one key the earliest wins.</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (_lock)
        {
            if (_shutdown.IsCancellationRequested)
            {
                return;
            }

            var due = _time.GetUtcNow() + delay;
            if (_waiting.TryGetValue(key, out var existing))
            {
                if (existing.Due <= due)
                {
                    return;
                }

                existing.Timer.Dispose();
            }

            var timer = _time.CreateTimer(_ => Fire(key, due), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _waiting[key] = (due, timer);
            timer.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Queues <paramref name="key"/> after its backoff: <c>base × 2^(failures − 1)</c>, at most the cap.</summary>
    /// <returns>The delay chosen.</returns>
    public TimeSpan AddRateLimited(TKey key)
    {
        TimeSpan delay;
        lock (_lock)
        {
            var failures = _failures.GetValueOrDefault(key) + 1;
            _failures[key] = failures;
            delay = Backoff(failures);
        }

        AddAfter(key, delay);
        return delay;
    }

    /// <summary>Consecutive failures recorded for <paramref name="key"/>.</summary>
    public int Failures(TKey key)
    {
        lock (_lock)
        {
            return _failures.GetValueOrDefault(key);
        }
    }

    /// <summary>Clears the failure count of <paramref name="key"/> (its pass succeeded), so its next backoff starts at the base again.</summary>
    public void Forget(TKey key)
    {
        lock (_lock)
        {
            _failures.Remove(key);
        }
    }

    /// <summary>Waits for a key and hands it to the caller, who must call <see cref="Done"/> with it.</summary>
    /// <exception cref="OperationCanceledException">Cancelled, or the queue was shut down.</exception>
    public async Task<TKey> GetAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        await _available.WaitAsync(linked.Token);
        lock (_lock)
        {
            var key = _queue.Dequeue();
            _dirty.Remove(key);
            _processing.Add(key);
            return key;
        }
    }

    /// <summary>The caller finished with <paramref name="key"/>; if it was added meanwhile, it is queued again now.</summary>
    public void Done(TKey key)
    {
        lock (_lock)
        {
            if (!_processing.Remove(key) || !_dirty.Contains(key) || _shutdown.IsCancellationRequested)
            {
                return;
            }

            _queue.Enqueue(key);
        }

        _available.Release();
    }

    /// <summary>Stops handing out keys: waiting and later <see cref="GetAsync"/> calls are cancelled; pending delays are dropped.</summary>
    public void ShutDown()
    {
        lock (_lock)
        {
            if (_shutdown.IsCancellationRequested)
            {
                return;
            }

            _shutdown.Cancel();
            foreach (var (_, timer) in _waiting.Values)
            {
                timer.Dispose();
            }

            _waiting.Clear();
        }
    }

    public void Dispose()
    {
        ShutDown();
        _available.Dispose();
        _shutdown.Dispose();
    }

    private TimeSpan Backoff(int failures)
    {
        // Doubling from the base overflows nothing: the exponent stops growing once the cap is reached.
        var delay = _baseDelay;
        for (var i = 1; i < failures && delay < _maxDelay; i++)
        {
            delay += delay;
        }

        return delay < _maxDelay ? delay : _maxDelay;
    }

    private void Fire(TKey key, DateTimeOffset due)
    {
        lock (_lock)
        {
            if (!_waiting.TryGetValue(key, out var entry) || entry.Due != due)
            {
                return;
            }

            _waiting.Remove(key);
            entry.Timer.Dispose();
        }

        Add(key);
    }
}
