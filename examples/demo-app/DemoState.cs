namespace Orchestrator.DemoApp;

/// <summary>The switches the fault endpoints flip, and the request counter. Thread-safe.</summary>
public sealed class DemoState
{
    private long _requests;
    private int _healthFailing;
    private int _hanging;

    public long Requests => Interlocked.Read(ref _requests);

    public bool Healthy => Volatile.Read(ref _healthFailing) == 0;

    public bool Hanging => Volatile.Read(ref _hanging) != 0;

    public void CountRequest() => Interlocked.Increment(ref _requests);

    /// <summary>Makes <c>/healthz</c> answer 503; true when it changed.</summary>
    public bool FailHealth() => Interlocked.Exchange(ref _healthFailing, 1) == 0;

    /// <summary>Makes <c>/healthz</c> answer 200 again; true when it changed.</summary>
    public bool Recover() => Interlocked.Exchange(ref _healthFailing, 0) == 1;

    /// <summary>From now on every request hangs; true when it changed.</summary>
    public bool Hang() => Interlocked.Exchange(ref _hanging, 1) == 0;
}
