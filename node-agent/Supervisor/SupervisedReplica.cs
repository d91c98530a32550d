using Orchestrator.NodeAgent.Health;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Supervisor;

/// <summary>Where one replica's run stands, as the supervisor's loop sees it.</summary>
internal enum RunState
{
    /// <summary>Never started on this node.</summary>
    Idle,

    /// <summary>A start is in flight.</summary>
    Starting,

    Running,

    /// <summary>A stop is in flight.</summary>
    Stopping,

    /// <summary>The last run ended; a restart may be due.</summary>
    Exited,

    /// <summary>A remove is in flight; the replica is forgotten once it completes.</summary>
    Removing,
}

/// <summary>Why the supervisor itself stopped a run: decides what its end means.</summary>
internal enum StopIntent
{
    None,

    /// <summary>The control plane asked for the stop (desired STOP).</summary>
    Stop,

    /// <summary>No longer assigned: stop, then remove.</summary>
    Remove,

    /// <summary>The liveness probe failed: restart per policy with reason Unhealthy.</summary>
    Unhealthy,

    /// <summary>The replica was re-assigned with a newer generation: stop the old run, start the new one.</summary>
    Fenced,
}

/// <summary>
/// One replica's state. Only the supervisor's loop reads or writes it, so it needs no lock; the
/// tasks that call the runtime post their results back to the loop instead of touching it.
/// </summary>
internal sealed class SupervisedReplica(string id)
{
    public string Id { get; } = id;

    /// <summary>What the control plane assigned, or null when it is not (or no longer) assigned.</summary>
    public Replica? Assignment { get; set; }

    public IContainerRuntime? Runtime { get; set; }

    public RunState State { get; set; } = RunState.Idle;

    /// <summary>Bumped at every start: results of an older run's operations and probes are ignored.</summary>
    public long RunId { get; set; }

    /// <summary>Container id or wrapper pid of the current (or last) run.</summary>
    public string RuntimeId { get; set; } = "";

    /// <summary>Generation of the assignment the current run was started for.</summary>
    public long RunGeneration { get; set; }

    /// <summary>The launch of the current run (null for a re-adopted run until its assignment arrives).</summary>
    public ReplicaLaunch? Launch { get; set; }

    /// <summary>True once this replica ran at least once (here or before an agent restart): the next start is a restart.</summary>
    public bool HasRun { get; set; }

    public int Restarts { get; set; }

    /// <summary>Ends in a row without a healthy run of <see cref="RestartBackoff.ResetAfter"/> between them.</summary>
    public int ConsecutiveEnds { get; set; }

    public StopIntent StopIntent { get; set; }

    /// <summary>The liveness failure that made the supervisor stop the run.</summary>
    public string UnhealthyMessage { get; set; } = "";

    /// <summary>The last run ended and the restart policy has not been applied to it yet.</summary>
    public bool NeedsDecision { get; set; }

    /// <summary>No restart will follow: the policy said so, or the control plane asked for a stop.</summary>
    public bool Terminal { get; set; }

    public DateTimeOffset? NextRetryAt { get; set; }

    /// <summary>A failed stop or remove is tried again no sooner than this.</summary>
    public DateTimeOffset? NotBefore { get; set; }

    /// <summary>Exits of runs that were reported while their start was still in flight.</summary>
    public List<RuntimeEvent> EarlyExits { get; } = [];

    public bool Ready { get; set; }

    public ProbeRunner? Readiness { get; set; }

    public ProbeRunner? Liveness { get; set; }

    /// <summary>Which run the probes belong to (0: none).</summary>
    public long ProbedRun { get; set; }

    public Phase Phase { get; set; } = Phase.Unspecified;

    public string Reason { get; set; } = "";

    public string Message { get; set; } = "";

    public int? ExitCode { get; set; }

    /// <summary>Reason and message of the last end, kept on the status after a restart (like the kubelet's last state).</summary>
    public string LastEndReason { get; set; } = "";

    public string LastEndMessage { get; set; } = "";

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? ReadyAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public DateTimeOffset? LastTransitionAt { get; set; }

    /// <summary>The status last sent, to send only changes.</summary>
    public ReplicaStatus? Published { get; set; }

    public bool Busy => State is RunState.Starting or RunState.Stopping or RunState.Removing;

    public DesiredState Desired => Assignment?.Spec?.Desired switch
    {
        null => DesiredState.Unspecified,
        DesiredState.Unspecified => DesiredState.Run,
        var d => d.Value,
    };

    public long Generation => Assignment?.Spec?.Generation ?? RunGeneration;

    public TimeSpan StopGrace => Launch?.StopGrace
        ?? (Assignment?.Spec?.Template?.StopGracePeriod is { } grace ? grace.ToTimeSpan() : TimeSpan.FromSeconds(10));
}
