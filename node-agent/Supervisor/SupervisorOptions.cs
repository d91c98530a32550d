namespace Orchestrator.NodeAgent.Supervisor;

/// <summary>Settings of the <see cref="ReplicaSupervisor"/> of one node.</summary>
public sealed record SupervisorOptions
{
    /// <summary>The node's name: replicas the runtimes list for another node are not this supervisor's.</summary>
    public required string NodeName { get; init; }

    /// <summary>Address host ports are bound on and endpoints are reported with.</summary>
    public string NodeAddress { get; init; } = "127.0.0.1";

    /// <summary>
    /// The discovery variables for a replica starting now (<see cref="Runtime.ReplicaLaunch.ServiceEnvironment"/>),
    /// asked at every start; the host wires it to the node's endpoints table. Null: none.
    /// </summary>
    public Func<IReadOnlyDictionary<string, string>>? ServiceEnvironment { get; init; }

    /// <summary>Delays between restarts of a replica that keeps ending.</summary>
    public RestartBackoff Backoff { get; init; } = new();

    /// <summary>
    /// How often the supervisor lists what its runtimes run, so an exit whose event was lost (a
    /// dropped Docker event stream) or a stray replica still heals. Exits normally arrive as events.
    /// </summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Stop and remove every replica when the supervisor stops (<c>orc dev</c>). Off, replicas keep
    /// running and a new agent re-adopts them (<c>orc-agent</c>).
    /// </summary>
    public bool StopAllOnShutdown { get; init; }
}

/// <summary>
/// Exponential restart backoff, like the kubelet's CrashLoopBackOff but starting small: the first
/// restart after a run is immediate, then <see cref="Initial"/>, doubling up to <see cref="Max"/>.
/// A run that lasted <see cref="ResetAfter"/> counts as healthy and starts the sequence over.
/// </summary>
public sealed record RestartBackoff
{
    public TimeSpan Initial { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan Max { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan ResetAfter { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The wait before the restart that follows <paramref name="consecutiveEnds"/> ends in a row (1 for the first).</summary>
    public TimeSpan DelayFor(int consecutiveEnds)
    {
        if (consecutiveEnds <= 1)
        {
            return TimeSpan.Zero;
        }

        var delay = Initial;
        for (var i = 2; i < consecutiveEnds && delay < Max; i++)
        {
            delay += delay;
        }

        return delay < Max ? delay : Max;
    }
}
