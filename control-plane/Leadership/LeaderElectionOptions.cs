namespace Orchestrator.ControlPlane.Leadership;

/// <summary>How a control plane campaigns for the controllers' leadership (docs/adr/0016-leader-election-and-fencing.md).</summary>
public sealed class LeaderElectionOptions
{
    /// <summary>The lease TTL of the leader key: a leader that stops renewing loses it this long after its last renewal.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Wait before trying again after the store failed (unreachable, a watch ended).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The leader renews its lease this often: a third of the TTL, so two renewals may fail before it is lost.</summary>
    public TimeSpan KeepAliveInterval => LeaseTtl / 3;

    /// <summary>Throws <see cref="ArgumentException"/> with the fix when a value cannot work.</summary>
    public void Validate()
    {
        if (LeaseTtl < TimeSpan.FromMilliseconds(300))
        {
            throw new ArgumentException($"leader lease TTL {LeaseTtl.TotalMilliseconds} ms is too short to renew in time; use at least 300 ms (default 3 s)");
        }

        if (RetryDelay <= TimeSpan.Zero)
        {
            throw new ArgumentException("leader election retry delay must be positive, e.g. 500 ms");
        }
    }
}
