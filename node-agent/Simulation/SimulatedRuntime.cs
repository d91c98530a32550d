using System.Globalization;
using Orchestrator.NodeAgent.Runtime;

namespace Orchestrator.NodeAgent.Simulation;

/// <summary>
/// A runtime that runs nothing: a start records the replica as running at once and a stop as
/// exited with code 0, each with the events a real runtime would send. It answers to a real
/// driver name (<c>process</c> or <c>docker</c>) so a simulated node takes the same services a
/// real one does; what it "runs" lives only in memory and is gone with the instance.
/// Used by simulated nodes (<see cref="SimulatedFleet"/>) to load the control plane and the
/// scheduler with thousands of nodes on one machine, as Kubernetes' kubemark hollow nodes do.
/// </summary>
public sealed class SimulatedRuntime : IContainerRuntime
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, RuntimeReplica> _replicas = new(StringComparer.Ordinal);
    private readonly RuntimeEventHub _events = new();
    private long _runs;

    /// <param name="name">The driver this runtime answers to: <c>process</c> or <c>docker</c>.</param>
    public SimulatedRuntime(string name, string nodeName, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (name is not ("process" or "docker"))
        {
            throw new ArgumentException($"a simulated runtime stands in for the process or docker driver, not \"{name}\"", nameof(name));
        }

        Name = name;
        NodeName = nodeName;
        _time = time;
    }

    public string Name { get; }

    public string NodeName { get; }

    /// <summary>How many replicas run right now.</summary>
    public int RunningCount
    {
        get
        {
            lock (_gate)
            {
                return _replicas.Values.Count(r => r.State == ReplicaState.Running);
            }
        }
    }

    public Task<ReplicaHandle> StartAsync(ReplicaLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ReplicaIds.Validate(launch.ReplicaId);
        cancellationToken.ThrowIfCancellationRequested();
        RuntimeReplica started;
        lock (_gate)
        {
            if (_replicas.TryGetValue(launch.ReplicaId, out var existing) && existing.State == ReplicaState.Running)
            {
                return Task.FromResult(new ReplicaHandle(launch.ReplicaId, existing.RuntimeId, AlreadyRunning: true));
            }

            started = new RuntimeReplica
            {
                ReplicaId = launch.ReplicaId,
                OwnerKind = launch.OwnerKind,
                OwnerName = launch.OwnerName,
                Revision = launch.Revision,
                Generation = launch.Generation,
                NodeName = NodeName,
                RuntimeId = string.Create(CultureInfo.InvariantCulture, $"sim-{Name}-{++_runs}"),
                State = ReplicaState.Running,
                StartedAt = _time.GetUtcNow(),
            };
            _replicas[launch.ReplicaId] = started;
        }

        _events.Publish(new RuntimeEvent(RuntimeEventKind.Started, started.ReplicaId, started.StartedAt!.Value, RuntimeId: started.RuntimeId));
        return Task.FromResult(new ReplicaHandle(started.ReplicaId, started.RuntimeId, AlreadyRunning: false));
    }

    public Task StopAsync(string replicaId, TimeSpan grace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        cancellationToken.ThrowIfCancellationRequested();
        RuntimeReplica? stopped = null;
        lock (_gate)
        {
            if (_replicas.TryGetValue(replicaId, out var existing) && existing.State == ReplicaState.Running)
            {
                // A simulated replica honours SIGTERM at once and exits cleanly.
                stopped = existing with { State = ReplicaState.Exited, ExitCode = 0, Reason = ExitReasons.Completed, FinishedAt = _time.GetUtcNow() };
                _replicas[replicaId] = stopped;
            }
        }

        if (stopped is not null)
        {
            _events.Publish(new RuntimeEvent(RuntimeEventKind.Exited, replicaId, stopped.FinishedAt!.Value, 0, ExitReasons.Completed, stopped.RuntimeId));
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(string replicaId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        cancellationToken.ThrowIfCancellationRequested();
        RuntimeReplica? killed = null;
        lock (_gate)
        {
            if (_replicas.Remove(replicaId, out var existing) && existing.State == ReplicaState.Running)
            {
                killed = existing;
            }
        }

        if (killed is not null)
        {
            // Removing a running replica kills it without grace, as the real runtimes do (SIGKILL: 137).
            _events.Publish(new RuntimeEvent(RuntimeEventKind.Exited, replicaId, _time.GetUtcNow(), 137, ExitReasons.Error, killed.RuntimeId));
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<RuntimeReplica>> ListAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<RuntimeReplica>>([.. _replicas.Values.OrderBy(r => r.ReplicaId, StringComparer.Ordinal)]);
        }
    }

    public IAsyncEnumerable<RuntimeEvent> WatchAsync(CancellationToken cancellationToken) => _events.Subscribe(cancellationToken);
}
