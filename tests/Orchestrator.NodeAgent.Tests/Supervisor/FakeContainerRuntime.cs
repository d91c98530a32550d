using System.Globalization;
using Orchestrator.NodeAgent.Runtime;

namespace Orchestrator.NodeAgent.Tests.Supervisor;

/// <summary>
/// A runtime that runs nothing: it keeps replicas in a table, publishes start and exit events like
/// a real runtime, and lets a test crash a replica, make starts fail, or end a run without an event.
/// </summary>
internal sealed class FakeContainerRuntime(TimeProvider time, string name = "process") : IContainerRuntime
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, RuntimeReplica> _replicas = new(StringComparer.Ordinal);
    private readonly RuntimeEventHub _events = new();
    private int _nextId = 1000;

    public string Name { get; } = name;

    /// <summary>Every launch, in order.</summary>
    public List<ReplicaLaunch> Launches { get; } = [];

    /// <summary>Every stop: replica id and grace.</summary>
    public List<(string ReplicaId, TimeSpan Grace)> Stops { get; } = [];

    public List<string> Removes { get; } = [];

    /// <summary>When set, starts throw it (once per start) instead of running.</summary>
    public Func<ReplicaLaunch, ReplicaStartException?> FailStart { get; set; } = _ => null;

    /// <summary>When set, a started replica exits at once with this code, before the start call returns.</summary>
    public int? ExitDuringStart { get; set; }

    /// <summary>Exit code a stopped replica reports (SIGTERM: 143).</summary>
    public int StopExitCode { get; set; } = 143;

    public int StartCount
    {
        get
        {
            lock (_gate)
            {
                return Launches.Count;
            }
        }
    }

    public Task<ReplicaHandle> StartAsync(ReplicaLaunch launch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_replicas.TryGetValue(launch.ReplicaId, out var existing) && existing.State == ReplicaState.Running)
            {
                return Task.FromResult(new ReplicaHandle(launch.ReplicaId, existing.RuntimeId, AlreadyRunning: true));
            }

            Launches.Add(launch);
            if (FailStart(launch) is { } failure)
            {
                throw failure;
            }

            var runtimeId = (++_nextId).ToString(CultureInfo.InvariantCulture);
            var now = time.GetUtcNow();
            _replicas[launch.ReplicaId] = new RuntimeReplica
            {
                ReplicaId = launch.ReplicaId,
                OwnerKind = launch.OwnerKind,
                OwnerName = launch.OwnerName,
                Revision = launch.Revision,
                Generation = launch.Generation,
                NodeName = launch.NodeName,
                RuntimeId = runtimeId,
                State = ReplicaState.Running,
                StartedAt = now,
            };
            _events.Publish(new RuntimeEvent(RuntimeEventKind.Started, launch.ReplicaId, now, RuntimeId: runtimeId));
            if (ExitDuringStart is { } code)
            {
                ExitLocked(launch.ReplicaId, code, ExitReasons.ForExitCode(code), publish: true);
            }

            return Task.FromResult(new ReplicaHandle(launch.ReplicaId, runtimeId, AlreadyRunning: false));
        }
    }

    public Task StopAsync(string replicaId, TimeSpan grace, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Stops.Add((replicaId, grace));
            if (_replicas.TryGetValue(replicaId, out var replica) && replica.State == ReplicaState.Running)
            {
                ExitLocked(replicaId, StopExitCode, ExitReasons.ForExitCode(StopExitCode), publish: true);
            }
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(string replicaId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Removes.Add(replicaId);
            if (_replicas.TryGetValue(replicaId, out var replica) && replica.State == ReplicaState.Running)
            {
                ExitLocked(replicaId, 137, ExitReasons.Error, publish: true);
            }

            _replicas.Remove(replicaId);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<RuntimeReplica>> ListAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<RuntimeReplica>>([.. _replicas.Values]);
        }
    }

    public IAsyncEnumerable<RuntimeEvent> WatchAsync(CancellationToken cancellationToken) => _events.Subscribe(cancellationToken);

    /// <summary>A replica the runtime already runs (an earlier agent started it).</summary>
    public void Seed(RuntimeReplica replica)
    {
        lock (_gate)
        {
            _replicas[replica.ReplicaId] = replica;
        }
    }

    /// <summary>The replica's process ends with <paramref name="exitCode"/> (and, unless <paramref name="silently"/>, an exit event).</summary>
    public void Crash(string replicaId, int exitCode, string? reason = null, bool silently = false)
    {
        lock (_gate)
        {
            ExitLocked(replicaId, exitCode, reason ?? ExitReasons.ForExitCode(exitCode), publish: !silently);
        }
    }

    public RuntimeReplica? Get(string replicaId)
    {
        lock (_gate)
        {
            return _replicas.GetValueOrDefault(replicaId);
        }
    }

    public bool IsRunning(string replicaId) => Get(replicaId)?.State == ReplicaState.Running;

    private void ExitLocked(string replicaId, int exitCode, string reason, bool publish)
    {
        var replica = _replicas[replicaId];
        if (replica.State != ReplicaState.Running)
        {
            throw new InvalidOperationException($"{replicaId} is not running");
        }

        var now = time.GetUtcNow();
        _replicas[replicaId] = replica with { State = ReplicaState.Exited, ExitCode = exitCode, Reason = reason, FinishedAt = now };
        if (publish)
        {
            _events.Publish(new RuntimeEvent(RuntimeEventKind.Exited, replicaId, now, exitCode, reason, replica.RuntimeId));
        }
    }
}
