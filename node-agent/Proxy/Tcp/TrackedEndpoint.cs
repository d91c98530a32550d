using System.Net;

namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>
/// One endpoint as a listener sees it: where to connect, how many connections through this listener
/// use it now (connects in progress included, so a burst of new connections does not all pick the
/// same idle endpoint), and its passive health: after a failed connect it is set aside for a while.
/// The state outlives endpoint updates that keep the endpoint, and a connection keeps its own
/// reference, so one that outlives its endpoint's removal still gives its count back.
/// </summary>
internal sealed class TrackedEndpoint
{
    private readonly Lock _gate = new();
    private int _open;
    private int _failures;
    private long _setAsideUntil;

    public TrackedEndpoint(MeshEndpoint endpoint)
    {
        Endpoint = endpoint;
        Target = IPAddress.TryParse(endpoint.Address, out var ip)
            ? new IPEndPoint(ip, endpoint.Port)
            : new DnsEndPoint(endpoint.Address, endpoint.Port);
    }

    public MeshEndpoint Endpoint { get; }

    /// <summary>What a connect goes to: an <see cref="IPEndPoint"/>, or a <see cref="DnsEndPoint"/> for a host name.</summary>
    public EndPoint Target { get; }

    /// <summary>Connections through this listener that use (or are connecting to) this endpoint.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connect failures since the last success.</summary>
    public int Failures => Volatile.Read(ref _failures);

    public void Acquire() => Interlocked.Increment(ref _open);

    public void Release() => Interlocked.Decrement(ref _open);

    /// <summary>Whether the endpoint is set aside at <paramref name="now"/> (a <see cref="TimeProvider.GetTimestamp"/> value).</summary>
    public bool IsSetAside(long now) => now < Volatile.Read(ref _setAsideUntil);

    /// <summary>The timestamp until which the endpoint is set aside (zero when it never was or has succeeded since).</summary>
    public long SetAsideUntil => Volatile.Read(ref _setAsideUntil);

    /// <summary>
    /// A connect failed: the endpoint is set aside for <c>base * 2^(failures - 1)</c>, at most
    /// <c>max</c>. With the defaults (5 s, 30 s) that is 5 s, 10 s, 20 s, then 30 s for every
    /// further failure in a row. Returns how long, and whether it was in use before (so the caller
    /// logs the change once, not once per connection that saw it).
    /// </summary>
    public (TimeSpan For, bool WasHealthy) RecordFailure(long now, long frequency, TimeSpan setAsideBase, TimeSpan setAsideMax)
    {
        lock (_gate)
        {
            var wasHealthy = _failures == 0;
            Volatile.Write(ref _failures, Math.Min(_failures + 1, 30));
            var ticks = setAsideBase.Ticks;
            for (var i = 1; i < _failures && ticks < setAsideMax.Ticks; i++)
            {
                ticks *= 2;
            }

            var duration = TimeSpan.FromTicks(Math.Min(ticks, setAsideMax.Ticks));
            Volatile.Write(ref _setAsideUntil, now + (long)(duration.TotalSeconds * frequency));
            return (duration, wasHealthy);
        }
    }

    /// <summary>A connect succeeded: the endpoint is in use again. Returns whether it had failed before.</summary>
    public bool RecordSuccess()
    {
        if (Volatile.Read(ref _failures) == 0)
        {
            // The common case takes no lock: nothing failed since the last success.
            return false;
        }

        lock (_gate)
        {
            var hadFailed = _failures > 0;
            Volatile.Write(ref _failures, 0);
            Volatile.Write(ref _setAsideUntil, 0);
            return hadFailed;
        }
    }
}
