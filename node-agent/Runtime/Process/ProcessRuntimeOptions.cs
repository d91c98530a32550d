namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>Settings of <see cref="ProcessRuntime"/>.</summary>
public sealed record ProcessRuntimeOptions
{
    /// <summary>
    /// Where replicas' records, exit files and logs live (<c>&lt;dir&gt;/replicas/&lt;id&gt;/</c>).
    /// A new runtime on the same directory re-adopts what the previous one started.
    /// </summary>
    public required string StateDirectory { get; init; }

    public MemoryEnforcementMode MemoryEnforcement { get; init; } = MemoryEnforcementMode.Auto;

    /// <summary>How often a re-adopted replica (not our child, so no exit notification) is checked in <c>/proc</c>.</summary>
    public TimeSpan AdoptedExitPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often RSS is summed under <see cref="Process.MemoryEnforcement.RssWatch"/>.</summary>
    public TimeSpan RssWatchInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>A log file is rotated when it grows past this size.</summary>
    public long LogMaxBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary>Rotated files kept per stream (<c>stdout.log.1</c> … <c>stdout.log.N</c>).</summary>
    public int LogMaxFiles { get; init; } = 3;

    /// <summary>How often log sizes are checked.</summary>
    public TimeSpan LogRotationInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the logs of a removed replica stay readable.</summary>
    public TimeSpan LogRetention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often <see cref="IReplicaLogs.ReadLogsAsync"/> looks for new output when following.</summary>
    public TimeSpan LogFollowInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The POSIX shell that runs the wrapper.</summary>
    public string Shell { get; init; } = "/bin/sh";
}
