using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Agent;
using Orchestrator.NodeAgent.Health;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Supervisor;

/// <summary>
/// The node's local reconcile loop: from the replicas assigned to this node to the replicas its
/// runtimes run. It starts what is missing, stops what is no longer wanted (with its grace),
/// restarts what ended per the restart policy with exponential backoff, runs readiness and
/// liveness probes, and reports every phase change (see README.md in this folder).
/// </summary>
/// <remarks>
/// One loop owns all state. Everything that happens (new assignments, a runtime's exit event, a
/// finished start or stop, a probe verdict, a backoff timer) is a signal on one channel; after each
/// batch of signals the loop looks at every replica and acts on the difference (level-triggered).
/// Calls into the runtimes run as tasks of their own and post their results back, so a slow
/// Docker start never holds up another replica.
/// </remarks>
public sealed partial class ReplicaSupervisor : INodeSupervisor, IHostedService, IAsyncDisposable
{
    private readonly SupervisorOptions _options;
    private readonly IReadOnlyList<IContainerRuntime> _runtimes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _probeHttp;
    private readonly bool _ownsProbeHttp;
    private readonly IProbeExec _hostExec = new HostProcessProbeExec();
    private readonly Channel<Signal> _signals = Channel.CreateUnbounded<Signal>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<ReplicaReport> _reports = Channel.CreateUnbounded<ReplicaReport>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, SupervisedReplica> _replicas = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ReplicaReport> _latest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, bool> _operations = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _watchers = [];
    private ITimer? _wakeTimer;
    private DateTimeOffset? _wakeAt;
    private ITimer? _resyncTimer;
    private Task _loop = Task.CompletedTask;
    private bool _assignedOnce;
    private int _started;
    private int _stopped;
    private volatile bool _keepReplicas;

    public ReplicaSupervisor(
        SupervisorOptions options,
        IEnumerable<IContainerRuntime> runtimes,
        TimeProvider time,
        ILogger<ReplicaSupervisor>? logger = null,
        HttpClient? probeHttp = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(runtimes);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _runtimes = [.. runtimes];
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _ownsProbeHttp = probeHttp is null;
        _probeHttp = probeHttp ?? HttpProbeCheck.CreateSharedClient();
    }

    /// <inheritdoc/>
    public ChannelReader<ReplicaReport> Reports => _reports.Reader;

    /// <inheritdoc/>
    public IReadOnlyList<ReplicaReport> Snapshot() => [.. _latest.Values.OrderBy(r => r.ReplicaId, StringComparer.Ordinal)];

    /// <inheritdoc/>
    public void SetAssignments(IReadOnlyCollection<Replica> replicas)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        _signals.Writer.TryWrite(new AssignmentsSignal([.. replicas]));
    }

    /// <summary>
    /// Leave replicas running on shutdown even when <see cref="SupervisorOptions.StopAllOnShutdown"/>
    /// is set: the agent goes away as if it had crashed, and the next one re-adopts them.
    /// </summary>
    public void KeepReplicasOnShutdown() => _keepReplicas = true;

    /// <summary>
    /// Subscribes to every runtime's events, then re-adopts what they already run for this node
    /// (so nothing that ends in between is missed), and starts the loop. Re-adopted replicas keep
    /// running untouched until the first assignment set says which of them to keep.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            return;
        }

        foreach (var runtime in _runtimes)
        {
            var events = runtime.WatchAsync(_stopping.Token);
            _watchers.Add(PumpEventsAsync(runtime, events));
        }

        foreach (var runtime in _runtimes)
        {
            foreach (var found in await TryListAsync(runtime, cancellationToken) ?? [])
            {
                Adopt(runtime, found);
            }
        }

        _loop = Task.Run(LoopAsync, CancellationToken.None);
        _resyncTimer = _time.CreateTimer(_ => _signals.Writer.TryWrite(new ResyncSignal()), null, _options.ResyncInterval, _options.ResyncInterval);
    }

    /// <summary>
    /// Stops the loop and the probes. With <see cref="SupervisorOptions.StopAllOnShutdown"/>, then
    /// stops (with each replica's grace) and removes every replica the runtimes hold for this node;
    /// otherwise they keep running for the next agent to re-adopt.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1 || Volatile.Read(ref _started) == 0)
        {
            return;
        }

        _resyncTimer?.Dispose();
        _signals.Writer.TryComplete();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _wakeTimer?.Dispose();

        // A start still in flight would otherwise leave a replica behind that nobody stops.
        await Task.WhenAll(_operations.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var replica in _replicas.Values)
        {
            await StopProbesAsync(replica);
        }

        if (_options.StopAllOnShutdown && !_keepReplicas)
        {
            await StopEverythingAsync(cancellationToken);
        }

        await _stopping.CancelAsync();
        await Task.WhenAll(_watchers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _reports.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
        if (_ownsProbeHttp)
        {
            _probeHttp.Dispose();
        }
    }

    private async Task StopEverythingAsync(CancellationToken cancellationToken)
    {
        var graces = _replicas.Values.ToDictionary(r => r.Id, r => r.StopGrace, StringComparer.Ordinal);
        var stops = new List<Task>();
        foreach (var runtime in _runtimes)
        {
            foreach (var found in (await TryListAsync(runtime, cancellationToken) ?? []).Where(IsOurs))
            {
                var grace = graces.TryGetValue(found.ReplicaId, out var g) ? g : TimeSpan.FromSeconds(10);
                stops.Add(StopAndRemoveAsync(runtime, found.ReplicaId, grace, cancellationToken));
            }
        }

        await Task.WhenAll(stops);
    }

    /// <summary>What <paramref name="runtime"/> holds, or null (logged) when it cannot say.</summary>
    private async Task<IReadOnlyList<RuntimeReplica>?> TryListAsync(IContainerRuntime runtime, CancellationToken cancellationToken)
    {
        try
        {
            return await runtime.ListAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogListFailed(_logger, runtime.Name, e.Message);
            return null;
        }
    }

    private async Task StopAndRemoveAsync(IContainerRuntime runtime, string replicaId, TimeSpan grace, CancellationToken cancellationToken)
    {
        try
        {
            await runtime.StopAsync(replicaId, grace, cancellationToken);
            await runtime.RemoveAsync(replicaId, cancellationToken);
            LogStoppedOnShutdown(_logger, replicaId);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStopFailed(_logger, replicaId, e.Message);
        }
    }

    private bool IsOurs(RuntimeReplica found) =>
        string.IsNullOrEmpty(found.NodeName) || string.Equals(found.NodeName, _options.NodeName, StringComparison.Ordinal);

    private void Adopt(IContainerRuntime runtime, RuntimeReplica found)
    {
        if (!IsOurs(found) || _replicas.ContainsKey(found.ReplicaId))
        {
            return;
        }

        var now = _time.GetUtcNow();
        var replica = new SupervisedReplica(found.ReplicaId)
        {
            Runtime = runtime,
            RuntimeId = found.RuntimeId,
            RunGeneration = found.Generation,
            HasRun = true,
            StartedAt = found.StartedAt,
            RunId = 1,
            LastTransitionAt = now,
        };
        if (found.State == ReplicaState.Running)
        {
            replica.State = RunState.Running;
            replica.Phase = Phase.Running;
            replica.Message = "re-adopted after an agent restart";
            LogAdopted(_logger, found.ReplicaId, runtime.Name, found.RuntimeId);
        }
        else
        {
            replica.State = RunState.Exited;
            replica.ExitCode = found.ExitCode;
            replica.FinishedAt = found.FinishedAt;
            replica.NeedsDecision = true;
            replica.Phase = found.ExitCode == 0 ? Phase.Succeeded : Phase.Failed;
            replica.Reason = string.IsNullOrEmpty(found.Reason) ? ExitReasons.Unknown : found.Reason;
            replica.Message = EndMessage(found.ExitCode, found.Reason);
            replica.LastEndReason = replica.Reason;
            replica.LastEndMessage = replica.Message;
            replica.ConsecutiveEnds = 1;
        }

        _replicas[replica.Id] = replica;
        Publish(replica);
    }

    private async Task PumpEventsAsync(IContainerRuntime runtime, IAsyncEnumerable<RuntimeEvent> events)
    {
        try
        {
            await foreach (var e in events)
            {
                if (e.Kind == RuntimeEventKind.Exited)
                {
                    _signals.Writer.TryWrite(new ExitedSignal(runtime, e));
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception e)
        {
            // The periodic resync notices exits from now on; say why events stopped.
            LogEventsEnded(_logger, runtime.Name, e.Message);
        }
    }

    private async Task LoopAsync()
    {
        var reader = _signals.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var signal))
            {
                try
                {
                    Handle(signal);
                }
                catch (Exception e)
                {
                    LogLoopError(_logger, signal.GetType().Name, e);
                }
            }

            try
            {
                ReconcileAll();
            }
            catch (Exception e)
            {
                LogLoopError(_logger, "reconcile", e);
            }
        }
    }

    private void Handle(Signal signal)
    {
        switch (signal)
        {
            case AssignmentsSignal assignments:
                OnAssignments(assignments.Replicas);
                break;
            case ExitedSignal exited:
                OnExited(exited.Runtime, exited.Event);
                break;
            case StartedSignal started:
                OnStarted(started);
                break;
            case StoppedSignal stopped:
                OnStopped(stopped);
                break;
            case RemovedSignal removed:
                OnRemoved(removed);
                break;
            case ProbeSignal probe:
                OnProbe(probe);
                break;
            case ResyncSignal:
                BeginResync();
                break;
            case ListedSignal listed:
                OnListed(listed);
                break;
            default:
                // WakeSignal: nothing to record; the reconcile pass after it does the work.
                break;
        }
    }

    private void OnAssignments(IReadOnlyList<Replica> assigned)
    {
        _assignedOnce = true;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var replica in assigned)
        {
            var id = replica.Meta?.Name;
            if (string.IsNullOrEmpty(id) || replica.Spec is null)
            {
                continue;
            }

            ids.Add(id);
            if (!_replicas.TryGetValue(id, out var supervised))
            {
                supervised = new SupervisedReplica(id);
                _replicas[id] = supervised;
            }

            supervised.Assignment = replica;
            supervised.Runtime ??= RuntimeFor(replica.Spec.Template?.Driver ?? Driver.Unspecified);

            // The count survives an agent restart through the control plane's copy of the status.
            if (replica.Status is { } status && status.Restarts > supervised.Restarts)
            {
                supervised.Restarts = status.Restarts;
            }
        }

        foreach (var replica in _replicas.Values)
        {
            if (!ids.Contains(replica.Id))
            {
                replica.Assignment = null;
            }
        }
    }

    private IContainerRuntime? RuntimeFor(Driver driver)
    {
        var name = NodeInfoFactory.FromDriver(driver);
        return _runtimes.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal));
    }

    private void OnExited(IContainerRuntime runtime, RuntimeEvent e)
    {
        if (!_replicas.TryGetValue(e.ReplicaId, out var replica) || !ReferenceEquals(replica.Runtime, runtime))
        {
            return;
        }

        switch (replica.State)
        {
            case RunState.Starting:
                // The run may end before its start call returns; matched against the handle then.
                replica.EarlyExits.Add(e);
                break;
            case RunState.Running when SameRun(e, replica.RuntimeId):
                LogExited(_logger, replica.Id, e.ExitCode, e.Reason);
                Ended(replica, e.ExitCode, e.Reason, e.Time);
                break;
            default:
                // An exit during a stop is the stop's own result; others belong to older runs.
                break;
        }
    }

    /// <summary>Whether <paramref name="e"/> is about the run <paramref name="runtimeId"/> (an unnamed event or run matches any).</summary>
    private static bool SameRun(RuntimeEvent e, string? runtimeId) =>
        string.IsNullOrEmpty(e.RuntimeId) || string.IsNullOrEmpty(runtimeId) || string.Equals(e.RuntimeId, runtimeId, StringComparison.Ordinal);

    private void OnStarted(StartedSignal started)
    {
        if (!_replicas.TryGetValue(started.ReplicaId, out var replica) || replica.RunId != started.RunId || replica.State != RunState.Starting)
        {
            return;
        }

        var now = _time.GetUtcNow();
        if (started.Error is not null || started.Handle is null)
        {
            var (reason, message) = started.Error switch
            {
                ReplicaStartException start => (start.Reason, start.Message),
                OperationCanceledException => (ExitReasons.StartFailed, "the start was cancelled"),
                { } other => (ExitReasons.StartFailed, other.Message),
                null => (ExitReasons.StartFailed, "the runtime returned no handle"),
            };
            LogStartFailed(_logger, replica.Id, reason, message);
            replica.State = RunState.Running;
            replica.StartedAt = now;
            Ended(replica, null, reason, now, message);
            return;
        }

        replica.EarlyExits.RemoveAll(e => !SameRun(e, started.Handle.RuntimeId));
        replica.State = RunState.Running;
        replica.RuntimeId = started.Handle.RuntimeId;
        replica.RunGeneration = replica.Launch?.Generation ?? replica.RunGeneration;
        replica.StartedAt = now;
        replica.Ready = false;
        replica.ReadyAt = null;
        SetPhase(replica, Phase.Running, replica.LastEndReason, RestartedMessage(replica, "running"), now);
        LogStarted(_logger, replica.Id, replica.Runtime!.Name, started.Handle.RuntimeId);

        if (replica.EarlyExits.Count > 0)
        {
            var exit = replica.EarlyExits[^1];
            replica.EarlyExits.Clear();
            LogExited(_logger, replica.Id, exit.ExitCode, exit.Reason);
            Ended(replica, exit.ExitCode, exit.Reason, exit.Time);
        }
    }

    private void OnStopped(StoppedSignal stopped)
    {
        if (!_replicas.TryGetValue(stopped.ReplicaId, out var replica) || replica.RunId != stopped.RunId || replica.State != RunState.Stopping)
        {
            return;
        }

        var now = _time.GetUtcNow();
        if (stopped.Error is not null)
        {
            LogStopFailed(_logger, replica.Id, stopped.Error.Message);
            replica.State = RunState.Running;
            replica.StopIntent = StopIntent.None;
            replica.NotBefore = now + TimeSpan.FromSeconds(1);
            return;
        }

        Ended(replica, stopped.ExitCode, stopped.Reason, now);
    }

    private void OnRemoved(RemovedSignal removed)
    {
        if (!_replicas.TryGetValue(removed.ReplicaId, out var replica) || replica.State != RunState.Removing)
        {
            return;
        }

        if (removed.Error is not null)
        {
            LogRemoveFailed(_logger, replica.Id, removed.Error.Message);
            replica.State = RunState.Exited;
            replica.NotBefore = _time.GetUtcNow() + TimeSpan.FromSeconds(1);
            return;
        }

        _replicas.Remove(replica.Id);
        _latest.TryRemove(replica.Id, out _);
        LogForgotten(_logger, replica.Id);
    }

    private void OnProbe(ProbeSignal probe)
    {
        if (!_replicas.TryGetValue(probe.ReplicaId, out var replica) || replica.ProbedRun != probe.RunId || replica.State != RunState.Running)
        {
            return;
        }

        var t = probe.Transition;
        if (t.Kind == ProbeKind.Liveness)
        {
            if (!t.Healthy && replica.Desired == DesiredState.Run)
            {
                LogUnhealthy(_logger, replica.Id, t.Message);
                replica.UnhealthyMessage = t.Message;
                BeginStop(replica, StopIntent.Unhealthy);
            }

            return;
        }

        replica.Ready = t.Healthy;
        if (replica.Phase is Phase.Running or Phase.Ready)
        {
            if (t.Healthy)
            {
                replica.ReadyAt = t.Time;
                SetPhase(replica, Phase.Ready, replica.LastEndReason, RestartedMessage(replica, "ready"), t.Time);
            }
            else
            {
                SetPhase(replica, Phase.Running, Reasons.NotReady, t.Message, t.Time);
            }
        }
    }

    /// <summary>
    /// Records that the current run ended (crash, exit, stop or a failed start). What follows (a
    /// restart, and when) is decided by the next reconcile pass in <see cref="Decide"/>.
    /// </summary>
    private void Ended(SupervisedReplica replica, int? exitCode, string reason, DateTimeOffset at, string? message = null)
    {
        _ = StopProbesAsync(replica);
        var now = _time.GetUtcNow();
        var ranFor = replica.StartedAt is { } started ? now - started : TimeSpan.Zero;
        if (ranFor >= _options.Backoff.ResetAfter)
        {
            replica.ConsecutiveEnds = 0;
        }

        replica.ConsecutiveEnds++;
        replica.State = RunState.Exited;
        replica.Ready = false;
        replica.ExitCode = exitCode;
        replica.FinishedAt = at;
        replica.NeedsDecision = true;
        replica.HasRun = true;
        var intent = replica.StopIntent;
        replica.StopIntent = StopIntent.None;

        string endReason;
        string endMessage;
        switch (intent)
        {
            case StopIntent.Unhealthy:
                endReason = Reasons.Unhealthy;
                endMessage = replica.UnhealthyMessage;
                break;
            case StopIntent.Stop or StopIntent.Remove:
                endReason = Reasons.Stopped;
                endMessage = "stopped as the control plane asked" + (exitCode is { } c ? string.Create(CultureInfo.InvariantCulture, $" (exit code {c})") : "");
                break;
            case StopIntent.Fenced:
                endReason = Reasons.Reassigned;
                endMessage = "stopped: the replica was assigned again with a newer generation";
                break;
            default:
                endReason = !string.IsNullOrEmpty(reason) ? reason
                    : exitCode is { } code ? ExitReasons.ForExitCode(code)
                    : ExitReasons.Unknown;
                endMessage = message ?? EndMessage(exitCode, reason);
                break;
        }

        var failed = intent == StopIntent.Unhealthy
            || (intent is StopIntent.None && (exitCode is not 0 || endReason is not ExitReasons.Completed));
        replica.LastEndReason = endReason;
        replica.LastEndMessage = endMessage;
        SetPhase(replica, failed ? Phase.Failed : Phase.Succeeded, endReason, endMessage, now);
    }

    private static string EndMessage(int? exitCode, string reason) => (exitCode, reason) switch
    {
        (_, ExitReasons.OomKilled) => "killed for exceeding its memory limit",
        (0, _) => "exited with code 0",
        ({ } code, _) when code > 128 && code < 160 => string.Create(CultureInfo.InvariantCulture, $"exited with code {code} (killed by signal {code - 128})"),
        ({ } code, _) => string.Create(CultureInfo.InvariantCulture, $"exited with code {code}"),
        (null, ExitReasons.Unknown) => "it is gone and nothing recorded how it ended",
        (null, _) => reason,
    };

    private static string RestartedMessage(SupervisedReplica replica, string state) =>
        replica.Restarts > 0 && !string.IsNullOrEmpty(replica.LastEndMessage)
            ? string.Create(CultureInfo.InvariantCulture, $"{state}; restarted {replica.Restarts} time(s), last because {replica.LastEndMessage}")
            : state;

    private void ReconcileAll()
    {
        var now = _time.GetUtcNow();
        foreach (var replica in _replicas.Values.ToList())
        {
            Reconcile(replica, now);
        }

        // Armed before anything is reported, so whoever reacts to a report finds the timer set.
        ArmWakeTimer(now);
        foreach (var replica in _replicas.Values)
        {
            Publish(replica);
        }
    }

    private void Reconcile(SupervisedReplica replica, DateTimeOffset now)
    {
        if (replica.Busy || (replica.NotBefore is { } notBefore && notBefore > now))
        {
            return;
        }

        replica.NotBefore = null;
        if (replica.Assignment is null)
        {
            // Before the first assignment set, re-adopted replicas are left alone: the control
            // plane has not said yet which of them this node keeps.
            if (!_assignedOnce)
            {
                return;
            }

            if (replica.State == RunState.Running)
            {
                BeginStop(replica, StopIntent.Remove);
            }
            else
            {
                BeginRemove(replica);
            }

            return;
        }

        switch (replica.Desired)
        {
            case DesiredState.Stop:
                if (replica.State == RunState.Running)
                {
                    BeginStop(replica, StopIntent.Stop);
                }
                else if (!replica.Terminal)
                {
                    NoMoreRestarts(replica);
                    if (replica.State == RunState.Idle)
                    {
                        SetPhase(replica, Phase.Succeeded, Reasons.Stopped, "stopped before it started, as the control plane asked", now);
                    }
                }

                return;

            case DesiredState.Drain:
                if (replica.State == RunState.Running && replica.Phase != Phase.Draining)
                {
                    SetPhase(replica, Phase.Draining, "", "draining: taken out of traffic, waiting to be stopped", now);
                }
                else if (replica.State != RunState.Running)
                {
                    // A retiring replica that ended is not started again.
                    NoMoreRestarts(replica);
                }

                return;
        }

        switch (replica.State)
        {
            case RunState.Running:
                if (replica.RunGeneration != 0 && replica.RunGeneration < replica.Generation)
                {
                    BeginStop(replica, StopIntent.Fenced);
                    return;
                }

                if (replica.Phase == Phase.Draining)
                {
                    // Back to RUN after a drain (a rollback): traffic may come again once ready.
                    SetPhase(replica, replica.Ready ? Phase.Ready : Phase.Running, "", replica.Ready ? "ready" : "running", now);
                }

                EnsureProbes(replica);
                break;

            case RunState.Idle:
                if (!replica.Terminal)
                {
                    BeginStart(replica, now);
                }

                break;

            case RunState.Exited:
                if (replica.NeedsDecision)
                {
                    Decide(replica, now);
                }

                if (!replica.Terminal && replica.NextRetryAt is { } at && at <= now)
                {
                    BeginStart(replica, now);
                }

                break;
        }
    }

    private static void NoMoreRestarts(SupervisedReplica replica)
    {
        replica.Terminal = true;
        replica.NextRetryAt = null;
        replica.NeedsDecision = false;
    }

    /// <summary>Applies the restart policy to a run that ended: restart now, later (backoff), or never.</summary>
    private void Decide(SupervisedReplica replica, DateTimeOffset now)
    {
        replica.NeedsDecision = false;
        var template = replica.Assignment?.Spec?.Template;
        var policy = template?.Restart ?? RestartPolicy.Unspecified;
        if (policy == RestartPolicy.Unspecified)
        {
            policy = replica.Assignment?.Spec?.Owner?.Kind == "job" ? RestartPolicy.OnFailure : RestartPolicy.Always;
        }

        var failed = replica.Phase == Phase.Failed;
        var fenced = replica.LastEndReason == Reasons.Reassigned;

        // A job's replica is one try: the job controller retries a failed one as a new replica
        // (ADR 0018), so each try keeps its own exit code and logs and the back-off is the job's.
        var ownedByJob = replica.Assignment?.Spec?.Owner?.Kind == "job";
        var restart = fenced || (!ownedByJob && policy switch
        {
            RestartPolicy.Always => true,
            RestartPolicy.OnFailure => failed,
            _ => false,
        });
        if (!restart)
        {
            NoMoreRestarts(replica);
            return;
        }

        var delay = fenced ? TimeSpan.Zero : _options.Backoff.DelayFor(replica.ConsecutiveEnds);
        replica.NextRetryAt = now + delay;
        if (delay > TimeSpan.Zero)
        {
            var reason = replica.LastEndReason is ExitReasons.ImageNotFound or ExitReasons.CommandNotFound or ExitReasons.StartFailed
                ? replica.LastEndReason
                : Reasons.CrashLoopBackOff;
            SetPhase(
                replica,
                Phase.Failed,
                reason,
                $"{replica.LastEndMessage}; restarting in {DurationText.Format(delay)} (back-off after {replica.ConsecutiveEnds} ends in a row)",
                now);
            LogBackoff(_logger, replica.Id, delay.TotalMilliseconds, replica.LastEndMessage);
        }
    }

    private void BeginStart(SupervisedReplica replica, DateTimeOffset now)
    {
        var assignment = replica.Assignment!;
        replica.NextRetryAt = null;
        replica.Terminal = false;
        if (replica.Runtime is null)
        {
            var driver = NodeInfoFactory.FromDriver(assignment.Spec.Template?.Driver ?? Driver.Unspecified);
            replica.Terminal = true;
            SetPhase(replica, Phase.Failed, ExitReasons.StartFailed, $"node {_options.NodeName} does not offer the {driver} driver", now);
            return;
        }

        ReplicaLaunch launch;
        try
        {
            launch = ReplicaLaunch.FromSpec(replica.Id, assignment.Spec, _options.NodeAddress);
            if (_options.ServiceEnvironment is { } serviceEnvironment)
            {
                // Fixed at each start (a restart sees the services known then), as Kubernetes does.
                launch = launch with { ServiceEnvironment = serviceEnvironment() };
            }
        }
        catch (ArgumentException e)
        {
            replica.Terminal = true;
            SetPhase(replica, Phase.Failed, ExitReasons.StartFailed, e.Message, now);
            return;
        }

        if (replica.HasRun)
        {
            replica.Restarts++;
        }

        replica.Launch = launch;
        replica.State = RunState.Starting;
        replica.RunId++;
        replica.EarlyExits.Clear();
        replica.FinishedAt = null;
        SetPhase(replica, Phase.Starting, replica.LastEndReason, replica.HasRun ? $"restarting after: {replica.LastEndMessage}" : "starting", now);

        var runtime = replica.Runtime;
        var runId = replica.RunId;
        var id = replica.Id;
        Track(async () =>
        {
            try
            {
                var handle = await runtime.StartAsync(launch, _stopping.Token);
                _signals.Writer.TryWrite(new StartedSignal(id, runId, handle, null));
            }
            catch (Exception e)
            {
                _signals.Writer.TryWrite(new StartedSignal(id, runId, null, e));
            }
        });
    }

    private void BeginStop(SupervisedReplica replica, StopIntent intent)
    {
        replica.State = RunState.Stopping;
        replica.StopIntent = intent;
        replica.Ready = false;
        _ = StopProbesAsync(replica);
        var runtime = replica.Runtime!;
        var runId = replica.RunId;
        var id = replica.Id;
        var grace = replica.StopGrace;
        LogStopping(_logger, id, intent.ToString(), grace.TotalSeconds);
        Track(async () =>
        {
            try
            {
                await runtime.StopAsync(id, grace, _stopping.Token);
                int? code = null;
                var reason = "";
                try
                {
                    var listed = await runtime.ListAsync(_stopping.Token);
                    if (listed.FirstOrDefault(r => r.ReplicaId == id) is { } found)
                    {
                        code = found.ExitCode;
                        reason = found.Reason;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The exit code is a detail; the stop itself succeeded.
                }

                _signals.Writer.TryWrite(new StoppedSignal(id, runId, code, reason, null));
            }
            catch (Exception e)
            {
                _signals.Writer.TryWrite(new StoppedSignal(id, runId, null, "", e));
            }
        });
    }

    private void BeginRemove(SupervisedReplica replica)
    {
        replica.State = RunState.Removing;
        _ = StopProbesAsync(replica);
        var id = replica.Id;
        var runtime = replica.Runtime;
        if (runtime is null || !replica.HasRun)
        {
            _signals.Writer.TryWrite(new RemovedSignal(id, null));
            return;
        }

        Track(async () =>
        {
            try
            {
                await runtime.RemoveAsync(id, _stopping.Token);
                _signals.Writer.TryWrite(new RemovedSignal(id, null));
            }
            catch (Exception e)
            {
                _signals.Writer.TryWrite(new RemovedSignal(id, e));
            }
        });
    }

    private void Track(Func<Task> operation)
    {
        var task = Task.Run(operation);
        _operations[task] = true;
        task.ContinueWith(t => _operations.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Starts the probes of the current run once its launch is known (a re-adopted run waits for its assignment).</summary>
    private void EnsureProbes(SupervisedReplica replica)
    {
        if (replica.ProbedRun == replica.RunId)
        {
            return;
        }

        var launch = replica.Launch;
        if (launch is null && replica.Assignment is { } assignment)
        {
            try
            {
                launch = ReplicaLaunch.FromSpec(replica.Id, assignment.Spec, _options.NodeAddress);
                replica.Launch = launch;
            }
            catch (ArgumentException)
            {
                launch = null;
            }
        }

        if (launch is null)
        {
            return;
        }

        replica.ProbedRun = replica.RunId;
        var health = replica.Assignment?.Spec?.Template?.Health;
        var exec = replica.Runtime is IProbeExec runtimeExec ? runtimeExec
            : replica.Runtime?.Name == "process" ? _hostExec
            : null;
        var runId = replica.RunId;
        var id = replica.Id;
        void OnTransition(ProbeTransition t) => _signals.Writer.TryWrite(new ProbeSignal(id, runId, t));

        ProbeRunner StartProbe(ProbeKind kind, Probe probe)
        {
            var check = ProbeChecks.Create(probe, launch, _options.NodeAddress, _probeHttp, exec);
            var runner = new ProbeRunner(kind, check, ProbeSettings.FromProto(probe), _time, OnTransition);
            runner.Start();
            return runner;
        }

        if (health?.Liveness is { } liveness)
        {
            replica.Liveness = StartProbe(ProbeKind.Liveness, liveness);
        }

        if (health?.Readiness is { } readiness)
        {
            replica.Readiness = StartProbe(ProbeKind.Readiness, readiness);
        }
        else if (replica.Phase == Phase.Running)
        {
            // Without a readiness probe a running replica is ready, as in Kubernetes.
            var now = _time.GetUtcNow();
            replica.Ready = true;
            replica.ReadyAt = now;
            SetPhase(replica, Phase.Ready, replica.LastEndReason, RestartedMessage(replica, "ready"), now);
        }
    }

    private static async Task StopProbesAsync(SupervisedReplica replica)
    {
        var readiness = replica.Readiness;
        var liveness = replica.Liveness;
        replica.Readiness = null;
        replica.Liveness = null;
        replica.ProbedRun = 0;
        if (readiness is not null)
        {
            await readiness.DisposeAsync();
        }

        if (liveness is not null)
        {
            await liveness.DisposeAsync();
        }
    }

    private void BeginResync()
    {
        var running = _replicas.Values
            .Where(r => r.State == RunState.Running)
            .ToDictionary(r => r.Id, r => r.RunId, StringComparer.Ordinal);
        foreach (var runtime in _runtimes)
        {
            Track(async () =>
            {
                if (await TryListAsync(runtime, _stopping.Token) is { } listed)
                {
                    _signals.Writer.TryWrite(new ListedSignal(runtime, listed, running));
                }
            });
        }
    }

    /// <summary>Heals what events missed: a run that ended unseen, or a replica nobody supervises.</summary>
    private void OnListed(ListedSignal listed)
    {
        var byId = listed.Replicas.Where(IsOurs).ToDictionary(r => r.ReplicaId, StringComparer.Ordinal);
        foreach (var replica in _replicas.Values.ToList())
        {
            if (!ReferenceEquals(replica.Runtime, listed.Runtime) || replica.State != RunState.Running
                || !listed.RunningBefore.TryGetValue(replica.Id, out var runId) || runId != replica.RunId)
            {
                continue;
            }

            if (!byId.TryGetValue(replica.Id, out var found))
            {
                LogVanished(_logger, replica.Id);
                Ended(replica, null, ExitReasons.Unknown, _time.GetUtcNow());
            }
            else if (found.State == ReplicaState.Exited && string.Equals(found.RuntimeId, replica.RuntimeId, StringComparison.Ordinal))
            {
                LogExited(_logger, replica.Id, found.ExitCode, found.Reason);
                Ended(replica, found.ExitCode, found.Reason, found.FinishedAt ?? _time.GetUtcNow());
            }
        }

        foreach (var found in byId.Values)
        {
            if (!_replicas.ContainsKey(found.ReplicaId))
            {
                Adopt(listed.Runtime, found);
            }
        }
    }

    private static void SetPhase(SupervisedReplica replica, Phase phase, string reason, string message, DateTimeOffset now)
    {
        if (replica.Phase != phase)
        {
            replica.LastTransitionAt = now;
        }

        replica.Phase = phase;
        replica.Reason = reason;
        replica.Message = message;
    }

    /// <summary>Sends the replica's status when it differs from what was sent last.</summary>
    private void Publish(SupervisedReplica replica)
    {
        if (!_latest.ContainsKey(replica.Id) && replica.Phase == Phase.Unspecified)
        {
            return;
        }

        var status = new ReplicaStatus
        {
            Phase = replica.Phase,
            Reason = replica.Reason,
            Message = replica.Message,
            ExitCode = replica.ExitCode ?? 0,
            Restarts = replica.Restarts,
            ObservedGeneration = replica.Generation,
            StartedAt = Stamp(replica.StartedAt),
            ReadyAt = replica.Ready ? Stamp(replica.ReadyAt) : null,
            FinishedAt = replica.State == RunState.Exited ? Stamp(replica.FinishedAt) : null,
            NextRetryAt = replica.State == RunState.Exited && !replica.Terminal ? Stamp(replica.NextRetryAt) : null,
            LastTransitionAt = Stamp(replica.LastTransitionAt),
        };
        if (replica.Launch is { } launch && replica.State is RunState.Running or RunState.Starting)
        {
            foreach (var port in launch.Ports)
            {
                status.Endpoints[port.Name] = new Endpoint { Address = _options.NodeAddress, Port = port.HostPort };
            }
        }

        if (replica.Published is not null && replica.Published.Equals(status))
        {
            return;
        }

        replica.Published = status;
        var report = new ReplicaReport { ReplicaId = replica.Id, Generation = replica.Generation, Status = status };
        _latest[replica.Id] = report;
        _reports.Writer.TryWrite(report);
    }

    private static Timestamp? Stamp(DateTimeOffset? time) => time is { } t ? Timestamp.FromDateTimeOffset(t) : null;

    /// <summary>Wakes the loop at the earliest retry or back-off end that is due.</summary>
    private void ArmWakeTimer(DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        foreach (var replica in _replicas.Values)
        {
            foreach (var at in new[] { replica.NotBefore, replica.State == RunState.Exited && !replica.Terminal ? replica.NextRetryAt : null })
            {
                if (at is { } a && (next is null || a < next))
                {
                    next = a;
                }
            }
        }

        if (next is null || (_wakeAt is { } armed && armed <= next && armed > now))
        {
            return;
        }

        _wakeAt = next;
        var due = next.Value - now;
        _wakeTimer ??= _time.CreateTimer(_ => _signals.Writer.TryWrite(new WakeSignal()), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _wakeTimer.Change(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The reasons the supervisor itself gives (the runtimes' are <see cref="ExitReasons"/>).</summary>
    private static class Reasons
    {
        public const string Unhealthy = "Unhealthy";
        public const string Stopped = "Stopped";
        public const string Reassigned = "Reassigned";
        public const string CrashLoopBackOff = "CrashLoopBackOff";
        public const string NotReady = "NotReady";
    }

    private abstract record Signal;

    private sealed record AssignmentsSignal(IReadOnlyList<Replica> Replicas) : Signal;

    private sealed record ExitedSignal(IContainerRuntime Runtime, RuntimeEvent Event) : Signal;

    private sealed record StartedSignal(string ReplicaId, long RunId, ReplicaHandle? Handle, Exception? Error) : Signal;

    private sealed record StoppedSignal(string ReplicaId, long RunId, int? ExitCode, string Reason, Exception? Error) : Signal;

    private sealed record RemovedSignal(string ReplicaId, Exception? Error) : Signal;

    private sealed record ProbeSignal(string ReplicaId, long RunId, ProbeTransition Transition) : Signal;

    private sealed record WakeSignal : Signal;

    private sealed record ResyncSignal : Signal;

    private sealed record ListedSignal(IContainerRuntime Runtime, IReadOnlyList<RuntimeReplica> Replicas, IReadOnlyDictionary<string, long> RunningBefore) : Signal;

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Started replica {ReplicaId} with {Runtime} ({RuntimeId})")]
    private static partial void LogStarted(ILogger logger, string replicaId, string runtime, string runtimeId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Replica {ReplicaId} could not start: {Reason}: {Message}")]
    private static partial void LogStartFailed(ILogger logger, string replicaId, string reason, string message);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Replica {ReplicaId} exited with code {ExitCode} ({Reason})")]
    private static partial void LogExited(ILogger logger, string replicaId, int? exitCode, string reason);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Stopping replica {ReplicaId} ({Intent}), grace {GraceSeconds}s")]
    private static partial void LogStopping(ILogger logger, string replicaId, string intent, double graceSeconds);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Stopping replica {ReplicaId} failed, retrying: {Error}")]
    private static partial void LogStopFailed(ILogger logger, string replicaId, string error);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Removing replica {ReplicaId} failed, retrying: {Error}")]
    private static partial void LogRemoveFailed(ILogger logger, string replicaId, string error);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "Replica {ReplicaId} removed from this node")]
    private static partial void LogForgotten(ILogger logger, string replicaId);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Replica {ReplicaId} is unhealthy, restarting it: {Message}")]
    private static partial void LogUnhealthy(ILogger logger, string replicaId, string message);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "Replica {ReplicaId} restarts in {DelayMs} ms (back-off): {Message}")]
    private static partial void LogBackoff(ILogger logger, string replicaId, double delayMs, string message);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Re-adopted replica {ReplicaId} running in {Runtime} ({RuntimeId})")]
    private static partial void LogAdopted(ILogger logger, string replicaId, string runtime, string runtimeId);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Cannot list the replicas of the {Runtime} runtime: {Error}")]
    private static partial void LogListFailed(ILogger logger, string runtime, string error);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "The {Runtime} runtime stopped sending events ({Error}); exits are noticed by the periodic resync only")]
    private static partial void LogEventsEnded(ILogger logger, string runtime, string error);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Error, Message = "Supervisor loop failed handling {What}")]
    private static partial void LogLoopError(ILogger logger, string what, Exception exception);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "Replica {ReplicaId} is gone from its runtime without an exit event")]
    private static partial void LogVanished(ILogger logger, string replicaId);

    [LoggerMessage(EventId = 3015, Level = LogLevel.Information, Message = "Stopped and removed replica {ReplicaId} on shutdown")]
    private static partial void LogStoppedOnShutdown(ILogger logger, string replicaId);
}
