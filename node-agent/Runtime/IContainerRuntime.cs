namespace Orchestrator.NodeAgent.Runtime;

/// <summary>
/// Runs replicas on this node: Docker containers (<c>docker</c>) or host processes (<c>process</c>).
/// The supervisor drives it level-triggered: it lists what runs, compares with its assignments,
/// and starts, stops or removes the difference. Every method is idempotent by replica id, so a
/// retried or repeated call never starts a second copy. See docs/adr/0011-container-runtime.md.
/// </summary>
public interface IContainerRuntime
{
    /// <summary>The driver this runtime implements: <c>docker</c> or <c>process</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Starts the replica, or returns the handle of the one already running under that id.
    /// A replica id whose earlier run has exited is started again (the old run is replaced).
    /// Throws <see cref="ReplicaStartException"/> with a reason when it cannot start
    /// (<see cref="ExitReasons.ImageNotFound"/>, <see cref="ExitReasons.CommandNotFound"/>, ...).
    /// </summary>
    Task<ReplicaHandle> StartAsync(ReplicaLaunch launch, CancellationToken cancellationToken);

    /// <summary>
    /// Sends SIGTERM, waits up to <paramref name="grace"/> for the replica to exit, then SIGKILL.
    /// Returns once it has exited. Stopping a replica that is not running (or unknown) does nothing.
    /// </summary>
    Task StopAsync(string replicaId, TimeSpan grace, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets the replica and deletes what it holds (container, cgroup, state); stops it first
    /// (without grace) if it still runs. Process replicas keep their log files for a retention period.
    /// Removing an unknown replica does nothing.
    /// </summary>
    Task RemoveAsync(string replicaId, CancellationToken cancellationToken);

    /// <summary>
    /// Everything this runtime runs or ran for this node and has not removed yet, found by its own
    /// marks (container labels, the state directory), so a restarted agent re-adopts what still runs.
    /// </summary>
    Task<IReadOnlyList<RuntimeReplica>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Starts and exits as they happen. The subscription begins when this method is called (not at
    /// the first <c>MoveNextAsync</c>), so a caller can subscribe, then list, and miss nothing.
    /// The stream ends when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    IAsyncEnumerable<RuntimeEvent> WatchAsync(CancellationToken cancellationToken);
}

/// <summary>Optional: a runtime that keeps its replicas' stdout and stderr.</summary>
public interface IReplicaLogs
{
    /// <summary>
    /// The last <paramref name="tail"/> lines (all when null) of the replica's output, then, when
    /// <paramref name="follow"/> is set, new lines as they are written until the replica exits or
    /// <paramref name="cancellationToken"/> is cancelled. Throws <see cref="KeyNotFoundException"/>
    /// for a replica this runtime does not know.
    /// </summary>
    IAsyncEnumerable<LogLine> ReadLogsAsync(string replicaId, int? tail, bool follow, CancellationToken cancellationToken);
}
