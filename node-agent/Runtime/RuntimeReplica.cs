namespace Orchestrator.NodeAgent.Runtime;

/// <summary>Whether a replica's process or container still runs.</summary>
public enum ReplicaState
{
    Running,
    Exited,
}

/// <summary>What a runtime returns for a start: enough to find the replica again.</summary>
/// <param name="ReplicaId">The replica id.</param>
/// <param name="RuntimeId">Container id (docker) or wrapper pid (process).</param>
/// <param name="AlreadyRunning">True when the replica was running already and nothing was started.</param>
public sealed record ReplicaHandle(string ReplicaId, string RuntimeId, bool AlreadyRunning);

/// <summary>A replica as a runtime observes it (status, never spec).</summary>
public sealed record RuntimeReplica
{
    public required string ReplicaId { get; init; }

    public string OwnerKind { get; init; } = "";

    public string OwnerName { get; init; } = "";

    public long Revision { get; init; }

    public long Generation { get; init; }

    public string NodeName { get; init; } = "";

    /// <summary>Container id (docker) or wrapper pid (process).</summary>
    public string RuntimeId { get; init; } = "";

    public ReplicaState State { get; init; }

    /// <summary>Set once exited; a process killed by signal N reports 128+N, as shells and Docker do.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Why it ended (<see cref="ExitReasons"/>); empty while running.</summary>
    public string Reason { get; init; } = "";

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }
}

/// <summary>What happened to a replica.</summary>
public enum RuntimeEventKind
{
    Started,
    Exited,
}

/// <summary>A start or an exit, as <see cref="IContainerRuntime.WatchAsync"/> reports it.</summary>
/// <param name="RuntimeId">
/// The container id or wrapper pid of the run it is about (as in <see cref="ReplicaHandle.RuntimeId"/>),
/// so a late exit of an earlier run is never taken for the exit of the current one; empty when unknown.
/// </param>
public sealed record RuntimeEvent(
    RuntimeEventKind Kind,
    string ReplicaId,
    DateTimeOffset Time,
    int? ExitCode = null,
    string Reason = "",
    string RuntimeId = "");

/// <summary>Which output a log line came from.</summary>
public enum LogStream
{
    Stdout,
    Stderr,
}

/// <summary>One line of a replica's output (without its line ending).</summary>
public sealed record LogLine(LogStream Stream, string Text);

/// <summary>The reasons a replica ends or fails to start, shared by every runtime.</summary>
public static class ExitReasons
{
    /// <summary>Exited with code 0.</summary>
    public const string Completed = "Completed";

    /// <summary>Exited with a non-zero code, or was killed by a signal.</summary>
    public const string Error = "Error";

    /// <summary>Killed for exceeding its memory limit.</summary>
    public const string OomKilled = "OOMKilled";

    /// <summary>The image is not on this node and could not be pulled.</summary>
    public const string ImageNotFound = "ImageNotFound";

    /// <summary>The program to run does not exist or is not executable.</summary>
    public const string CommandNotFound = "CommandNotFound";

    /// <summary>The runtime refused or failed to start it (bad launch, daemon error).</summary>
    public const string StartFailed = "StartFailed";

    /// <summary>It is gone and nothing recorded how it ended (its wrapper was killed, the node rebooted).</summary>
    public const string Unknown = "Unknown";

    /// <summary>The reason for a plain exit code.</summary>
    public static string ForExitCode(int exitCode) => exitCode == 0 ? Completed : Error;
}

/// <summary>A replica could not be started; <see cref="Reason"/> is one of <see cref="ExitReasons"/>.</summary>
public sealed class ReplicaStartException : Exception
{
    public ReplicaStartException(string reason, string message, Exception? innerException = null)
        : base($"{reason}: {message}", innerException)
    {
        Reason = reason;
    }

    public ReplicaStartException()
        : this(ExitReasons.StartFailed, "the replica could not be started")
    {
    }

    public ReplicaStartException(string message)
        : this(ExitReasons.StartFailed, message)
    {
    }

    public ReplicaStartException(string message, Exception innerException)
        : this(ExitReasons.StartFailed, message, innerException)
    {
    }

    public string Reason { get; }
}
