namespace Orchestrator.NodeAgent.Health;

/// <summary>
/// Runs one probe of one replica on the injected <see cref="TimeProvider"/>: waits the initial
/// delay, then checks every interval, and flips its verdict after <c>success_threshold</c>
/// consecutive successes or <c>failure_threshold</c> consecutive failures, calling back with a
/// <see cref="ProbeTransition"/> each time it flips.
/// </summary>
/// <remarks>
/// Readiness starts not ready (a replica gets traffic only once it has proved it can serve);
/// liveness starts alive (a replica is restarted only after it has proved it is stuck).
/// Checks are scheduled on absolute times (start + initial delay + n × interval), so a slow
/// check does not push every later one back, and a clock that moved on while a check ran makes
/// the next one run at once rather than be lost.
/// </remarks>
public sealed class ProbeRunner : IAsyncDisposable
{
    private readonly IProbeCheck _check;
    private readonly TimeProvider _time;
    private readonly Action<ProbeTransition> _onTransition;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task _loop = Task.CompletedTask;
    private int _successes;
    private int _failures;
    private long _completed;
    private bool _healthy;
    private bool _disposed;
    private ProbeResult? _last;

    public ProbeRunner(ProbeKind kind, IProbeCheck check, ProbeSettings settings, TimeProvider time, Action<ProbeTransition> onTransition)
    {
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(onTransition);
        Kind = kind;
        _check = check;
        Settings = settings;
        _time = time;
        _onTransition = onTransition;
        _healthy = kind == ProbeKind.Liveness;
    }

    public ProbeKind Kind { get; }

    public ProbeSettings Settings { get; }

    /// <summary>The current verdict: ready (readiness) or alive (liveness).</summary>
    public bool Healthy
    {
        get
        {
            lock (_gate)
            {
                return _healthy;
            }
        }
    }

    /// <summary>
    /// How many waits for a next check have been set on the clock (a test advancing a fake clock
    /// waits for this first: an advance between reading the clock and setting the timer is missed).
    /// </summary>
    internal long WaitsStarted => Interlocked.Read(ref _waitsStarted);

    private long _waitsStarted;

    /// <summary>How many checks have finished and been counted.</summary>
    public long CompletedChecks
    {
        get
        {
            lock (_gate)
            {
                return _completed;
            }
        }
    }

    /// <summary>The last check's result, or null before the first.</summary>
    public ProbeResult? LastResult
    {
        get
        {
            lock (_gate)
            {
                return _last;
            }
        }
    }

    /// <summary>Starts checking (once); the first check runs after the initial delay.</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_loop == Task.CompletedTask)
            {
                // The schedule counts from this call, not from whenever the loop's first turn
                // happens to read the clock.
                var started = _time.GetUtcNow();
                _loop = Task.Run(() => RunAsync(started, _stop.Token));
            }
        }
    }

    /// <summary>
    /// Runs the check once with the probe's timeout and returns its result (a timeout is a failure).
    /// The timeout holds even for a check that does not honour its token (a connect stuck in name
    /// resolution): the runner stops waiting for it and reports the timeout.
    /// </summary>
    public async Task<ProbeResult> ProbeOnceAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Settings.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return await _check.CheckAsync(linked.Token).WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ProbeResult.Failed($"timed out after {DurationText.Format(Settings.Timeout)}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return ProbeResult.Failed(ex.Message);
        }
    }

    /// <summary>Stops the loop, cancelling a running check, and waits for it; calling it again does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        Task loop;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            loop = _loop;
        }

        await _stop.CancelAsync();
        try
        {
            await loop;
        }
        catch (OperationCanceledException)
        {
            // Stopping is the point.
        }

        _stop.Dispose();
    }

    private async Task RunAsync(DateTimeOffset started, CancellationToken cancellationToken)
    {
        var due = started + Settings.InitialDelay;
        while (!cancellationToken.IsCancellationRequested)
        {
            var wait = due - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                var delay = Task.Delay(wait, _time, cancellationToken);
                Interlocked.Increment(ref _waitsStarted);
                await delay;
            }

            var result = await ProbeOnceAsync(cancellationToken);
            var transition = Count(result);
            if (transition is not null)
            {
                _onTransition(transition);
            }

            due += Settings.Interval;

            // After a long stall (a check slower than several intervals), do not fire a burst to catch up.
            var now = _time.GetUtcNow();
            if (due < now - Settings.Interval)
            {
                due = now;
            }
        }
    }

    private ProbeTransition? Count(ProbeResult result)
    {
        lock (_gate)
        {
            _completed++;
            _last = result;
            var name = Kind == ProbeKind.Readiness ? "readiness" : "liveness";
            if (result.Success)
            {
                _failures = 0;
                _successes++;
                if (!_healthy && _successes >= Settings.SuccessThreshold)
                {
                    _healthy = true;
                    return new ProbeTransition(Kind, true, $"{name} probe succeeded", _time.GetUtcNow());
                }
            }
            else
            {
                _successes = 0;
                _failures++;
                if (_healthy && _failures >= Settings.FailureThreshold)
                {
                    _healthy = false;
                    return new ProbeTransition(Kind, false, $"{name} probe failed: {_check.Description}: {result.Detail}", _time.GetUtcNow());
                }
            }

            return null;
        }
    }
}
