using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SystemProcess = System.Diagnostics.Process;

namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>
/// Runs replicas as host processes. Each replica runs under a small <c>sh</c> wrapper started with
/// <c>setsid</c> (its own session and process group), which sends the replica's output to log files
/// and records its exit code in the replica's state directory, so a new runtime on the same
/// directory re-adopts running replicas (pid + start time) and learns how ended ones finished
/// (ADR 0010, ADR 0011).
/// </summary>
public sealed partial class ProcessRuntime : IContainerRuntime, IReplicaLogs, IAsyncDisposable
{
    /// <summary>
    /// The wrapper. Arguments: state dir, the cgroup.procs file to join (or empty), then the command.
    /// It joins the cgroup before forking, so the replica and all it starts are limited from the
    /// first instruction. It catches TERM/INT/HUP/QUIT (a caught signal reverts to the default in
    /// the child, an ignored one would not), so a signal sent to the whole group reaches the
    /// replica while the wrapper stays to record the exit. An interrupted <c>wait</c> returns
    /// 128+signal, so it waits again until the child is really gone, then asks once more for the
    /// child's own status. Exit codes follow the shell convention: 128+N for death by signal N.
    /// </summary>
    internal const string WrapperScript = """
        dir=$1; cg=$2; shift 2
        exec </dev/null >>"$dir/stdout.log" 2>>"$dir/stderr.log"
        record() { echo "$1" > "$dir/exit.tmp" && mv -f "$dir/exit.tmp" "$dir/exit"; }
        if [ -n "$cg" ] && ! echo $$ > "$cg"; then
          echo "orc-wrapper: cannot join memory cgroup $cg; not starting without the limit" >&2
          record 125; exit 125
        fi
        trap 'orc_signal=1' TERM INT HUP QUIT
        "$@" &
        child=$!
        while :; do
          wait "$child"; code=$?
          if kill -0 "$child" 2>/dev/null; then continue; fi
          wait "$child" 2>/dev/null; again=$?
          if [ "$again" -ne 127 ]; then code=$again; fi
          break
        done
        record "$code"
        exit "$code"
        """;

    private static readonly string[] InheritedVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

    private const string RecordFile = "replica.json";
    private const string StatusFile = "status.json";
    private const string ExitFile = "exit";
    private const string StdoutFile = "stdout.log";
    private const string StderrFile = "stderr.log";

    /// <summary>Bound on waiting for an exit after SIGKILL: the kernel acts at once, only /proc polling adds delay.</summary>
    private static readonly TimeSpan KillWaitLimit = TimeSpan.FromSeconds(30);

    private readonly ProcessRuntimeOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly MemoryLimiter _memory;
    private readonly string _replicasDirectory;
    private readonly string _setsid;
    private readonly RuntimeEventHub _events = new();
    private readonly ConcurrentDictionary<string, TrackedReplica> _replicas = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _housekeeping;
    private int _disposed;

    public ProcessRuntime(ProcessRuntimeOptions options, TimeProvider timeProvider, ILogger<ProcessRuntime>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the process runtime needs Linux (/proc, process groups, cgroups)");
        }

        _options = options;
        _timeProvider = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _setsid = FindOnPath("setsid", System.Environment.GetEnvironmentVariable("PATH"))
            ?? throw new InvalidOperationException("the process runtime needs setsid (util-linux or busybox) on PATH");
        if (!File.Exists(options.Shell))
        {
            throw new InvalidOperationException($"the process runtime needs a POSIX shell at {options.Shell}");
        }

        _replicasDirectory = Path.Combine(options.StateDirectory, "replicas");
        Directory.CreateDirectory(_replicasDirectory);
        _memory = MemoryLimiter.Detect(options.MemoryEnforcement);
        LogMemoryEnforcement(_logger, MemoryLimiter.DisplayName(_memory.Enforcement), _memory.Detail);
        Adopt();
        _housekeeping = HousekeepingAsync(_shutdown.Token);
    }

    public string Name => "process";

    /// <summary>How memory limits are enforced on this node (shown by <c>orc get nodes</c>).</summary>
    public MemoryEnforcement MemoryEnforcement => _memory.Enforcement;

    /// <summary><c>cgroup-v1</c>, <c>cgroup-v2</c> or <c>rss-watch</c>, as <c>NodeInfo.memory_enforcement</c> carries it.</summary>
    public string MemoryEnforcementName => MemoryLimiter.DisplayName(_memory.Enforcement);

    /// <summary>Why <see cref="MemoryEnforcement"/> was chosen (for example why no cgroup could be used).</summary>
    public string MemoryEnforcementDetail => _memory.Detail;

    public async Task<ReplicaHandle> StartAsync(ReplicaLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ReplicaIds.Validate(launch.ReplicaId);
        if (launch.Command.Count == 0)
        {
            throw new ReplicaStartException(ExitReasons.StartFailed, $"replica {launch.ReplicaId}: a process replica needs a command");
        }

        var gate = _locks.GetOrAdd(launch.ReplicaId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (_replicas.TryGetValue(launch.ReplicaId, out var existing))
            {
                if (existing.IsRunning)
                {
                    return new ReplicaHandle(launch.ReplicaId, existing.Record.Pid.ToString(CultureInfo.InvariantCulture), AlreadyRunning: true);
                }

                Forget(existing, keepLogs: true);
            }

            var tracked = Launch(launch);
            return new ReplicaHandle(launch.ReplicaId, tracked.Record.Pid.ToString(CultureInfo.InvariantCulture), AlreadyRunning: false);
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task StopAsync(string replicaId, TimeSpan grace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        if (!_replicas.TryGetValue(replicaId, out var tracked) || !tracked.IsRunning)
        {
            return;
        }

        if (grace > TimeSpan.Zero && SignalIfAlive(tracked, NativeMethods.SigTerm))
        {
            try
            {
                await tracked.Exited.Task.WaitAsync(grace, _timeProvider, cancellationToken);
                return;
            }
            catch (TimeoutException)
            {
                // Grace is over: kill below.
            }
        }

        if (tracked.IsRunning)
        {
            // Set before signalling: the exit may be noticed before SignalIfAlive returns.
            tracked.KilledByRuntime = true;
            if (!SignalIfAlive(tracked, NativeMethods.SigKill))
            {
                // It was already gone: whatever ended it, it was not this kill.
                tracked.KilledByRuntime = false;
            }
        }

        await tracked.Exited.Task.WaitAsync(KillWaitLimit, _timeProvider, cancellationToken);
    }

    public async Task RemoveAsync(string replicaId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        var gate = _locks.GetOrAdd(replicaId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (!_replicas.TryGetValue(replicaId, out var tracked))
            {
                return;
            }

            await StopAsync(replicaId, TimeSpan.Zero, cancellationToken);
            Forget(tracked, keepLogs: true);
        }
        finally
        {
            gate.Release();
        }
    }

    public Task<IReadOnlyList<RuntimeReplica>> ListAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<RuntimeReplica> list = [.. _replicas.Values.Select(t => t.Snapshot()).OrderBy(r => r.ReplicaId, StringComparer.Ordinal)];
        return Task.FromResult(list);
    }

    public IAsyncEnumerable<RuntimeEvent> WatchAsync(CancellationToken cancellationToken) => _events.Subscribe(cancellationToken);

    public async IAsyncEnumerable<LogLine> ReadLogsAsync(
        string replicaId,
        int? tail,
        bool follow,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        ReplicaIds.Validate(replicaId);
        var dir = ReplicaDirectory(replicaId);
        var files = new[] { (LogStream.Stdout, Path.Combine(dir, StdoutFile)), (LogStream.Stderr, Path.Combine(dir, StderrFile)) };
        if (!files.Any(f => File.Exists(f.Item2)))
        {
            throw new KeyNotFoundException($"no logs for replica {replicaId} on this node (never ran here, or removed longer ago than the log retention)");
        }

        // Two files cannot be interleaved exactly: the tail shows stdout's lines, then stderr's.
        var positions = new long[files.Length];
        for (var i = 0; i < files.Length; i++)
        {
            var (stream, path) = files[i];
            var (lines, length) = ReadAllLines(path);
            positions[i] = length;
            foreach (var line in tail is { } n ? lines.TakeLast(Math.Max(n, 0)) : lines)
            {
                yield return new LogLine(stream, line);
            }
        }

        if (!follow)
        {
            yield break;
        }

        var partial = new StringBuilder[] { new(), new() };
        while (true)
        {
            var running = _replicas.TryGetValue(replicaId, out var tracked) && tracked.IsRunning;
            for (var i = 0; i < files.Length; i++)
            {
                var (stream, path) = files[i];
                foreach (var line in ReadNew(path, ref positions[i], partial[i]))
                {
                    yield return new LogLine(stream, line);
                }
            }

            if (!running)
            {
                yield break;
            }

            await Task.Delay(_options.LogFollowInterval, _timeProvider, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // The replicas keep running: a new runtime on the same state directory re-adopts them.
        await _shutdown.CancelAsync();
        _events.Complete();
        try
        {
            await _housekeeping;
        }
        catch (OperationCanceledException)
        {
            // Expected on shutdown.
        }

        foreach (var tracked in _replicas.Values)
        {
            tracked.Dispose();
        }

        _shutdown.Dispose();
    }

    private TrackedReplica Launch(ReplicaLaunch launch)
    {
        var dir = ReplicaDirectory(launch.ReplicaId);
        Directory.CreateDirectory(dir);
        foreach (var stale in new[] { ExitFile, StatusFile, RecordFile })
        {
            File.Delete(Path.Combine(dir, stale));
        }

        // The wrapper appends to these; creating them now makes the logs readable from the moment start returns.
        foreach (var log in new[] { StdoutFile, StderrFile })
        {
            using var _ = new FileStream(Path.Combine(dir, log), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        }

        // A replica does not inherit the agent's environment (its secrets, its DOTNET_* settings),
        // only what a program needs to find things and format text; the template can override these.
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in InheritedVariables)
        {
            if (System.Environment.GetEnvironmentVariable(name) is { } value)
            {
                env[name] = value;
            }
        }

        foreach (var (key, value) in ReplicaEnvironment.Build(launch, PortView.HostPort))
        {
            env[key] = value;
        }

        var command = ReplicaEnvironment.Expand(launch.Command.Concat(launch.Args), env);
        var program = command[0].Contains('/', StringComparison.Ordinal)
            ? (IsExecutable(command[0]) ? command[0] : null)
            : FindOnPath(command[0], env.GetValueOrDefault("PATH"));
        if (program is null)
        {
            throw new ReplicaStartException(
                ExitReasons.CommandNotFound,
                $"replica {launch.ReplicaId}: \"{command[0]}\" is not an executable file{(command[0].Contains('/', StringComparison.Ordinal) ? "" : $" on PATH ({env.GetValueOrDefault("PATH")})")}");
        }

        string? cgroup;
        try
        {
            cgroup = _memory.Create(launch.ReplicaId, launch.MemoryBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ReplicaStartException(ExitReasons.StartFailed, $"replica {launch.ReplicaId}: cannot create its memory cgroup ({ex.Message})", ex);
        }

        var startInfo = new System.Diagnostics.ProcessStartInfo(_setsid)
        {
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        startInfo.Environment.Clear();
        foreach (var (key, value) in env)
        {
            startInfo.Environment[key] = value;
        }

        startInfo.ArgumentList.Add(_options.Shell);
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(WrapperScript);
        startInfo.ArgumentList.Add("orc-wrapper");
        startInfo.ArgumentList.Add(dir);
        startInfo.ArgumentList.Add(cgroup is null ? "" : Path.Combine(cgroup, "cgroup.procs"));
        startInfo.ArgumentList.Add(program);
        foreach (var arg in command.Skip(1))
        {
            startInfo.ArgumentList.Add(arg);
        }

        SystemProcess process;
        try
        {
            process = SystemProcess.Start(startInfo)
                ?? throw new ReplicaStartException(ExitReasons.StartFailed, $"replica {launch.ReplicaId}: the wrapper did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            if (cgroup is not null)
            {
                MemoryLimiter.TryRemoveDirectory(cgroup);
            }

            throw new ReplicaStartException(ExitReasons.StartFailed, $"replica {launch.ReplicaId}: cannot start {_setsid} ({ex.Message})", ex);
        }

        // Our child is not reaped until we wait for it, but .NET reaps eagerly on SIGCHLD: a replica
        // that is already gone has no stat; its exit still arrives through the Process object.
        var record = new ReplicaRecord
        {
            ReplicaId = launch.ReplicaId,
            OwnerKind = launch.OwnerKind,
            OwnerName = launch.OwnerName,
            Revision = launch.Revision,
            Generation = launch.Generation,
            NodeName = launch.NodeName,
            Pid = process.Id,
            StartTicks = ProcStat.Read(process.Id)?.StartTicks ?? 0,
            StartedAt = _timeProvider.GetUtcNow(),
            Cgroup = cgroup,
            MemoryBytes = launch.MemoryBytes,
        };
        ProcessStateJson.WriteAtomically(Path.Combine(dir, RecordFile), record, ProcessStateJson.Default.ReplicaRecord);

        var tracked = new TrackedReplica(record, dir) { Process = process };
        _replicas[launch.ReplicaId] = tracked;
        LogStarted(_logger, launch.ReplicaId, record.Pid, string.Join(' ', command));
        _events.Publish(new RuntimeEvent(RuntimeEventKind.Started, launch.ReplicaId, record.StartedAt, RuntimeId: record.Pid.ToString(CultureInfo.InvariantCulture)));
        _ = WatchChildAsync(tracked, process);
        StartRssWatch(tracked);
        return tracked;
    }

    private async Task WatchChildAsync(TrackedReplica tracked, SystemProcess process)
    {
        try
        {
            await process.WaitForExitAsync(_shutdown.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await HandleExitAsync(tracked, process.ExitCode);
    }

    private async Task WatchAdoptedAsync(TrackedReplica tracked)
    {
        // Not our child: no SIGCHLD. Poll /proc at a modest interval on the injected clock.
        using var timer = new PeriodicTimer(_options.AdoptedExitPollInterval, _timeProvider);
        try
        {
            while (IsAlive(tracked.Record))
            {
                await timer.WaitForNextTickAsync(_shutdown.Token);
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await HandleExitAsync(tracked, tracked.KilledByRuntime ? 128 + NativeMethods.SigKill : null);
    }

    private void StartRssWatch(TrackedReplica tracked)
    {
        if (_memory.Enforcement == MemoryEnforcement.RssWatch && tracked.Record.MemoryBytes > 0)
        {
            _ = WatchRssAsync(tracked);
        }
    }

    private async Task WatchRssAsync(TrackedReplica tracked)
    {
        using var timer = new PeriodicTimer(_options.RssWatchInterval, _timeProvider);
        var pageSize = System.Environment.SystemPageSize;
        try
        {
            while (tracked.IsRunning && await timer.WaitForNextTickAsync(_shutdown.Token))
            {
                var rss = ProcStat.InSession(tracked.Record.Pid).Sum(p => p.RssPages) * pageSize;
                if (rss > tracked.Record.MemoryBytes && tracked.IsRunning && IsAlive(tracked.Record))
                {
                    LogRssLimitExceeded(_logger, tracked.Record.ReplicaId, rss, tracked.Record.MemoryBytes);
                    tracked.KillReason = ExitReasons.OomKilled;
                    tracked.KilledByRuntime = true;
                    NativeMethods.SignalReplica(tracked.Record.Pid, NativeMethods.SigKill);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down: the next runtime watches again.
        }
    }

    /// <summary>Records how a replica ended, once, cleans up after it, then tells the watchers.</summary>
    private async Task HandleExitAsync(TrackedReplica tracked, int? fallbackExitCode)
    {
        if (Interlocked.Exchange(ref tracked.ExitHandled, 1) == 1)
        {
            return;
        }

        var exit = RecordExit(tracked, fallbackExitCode);
        if (tracked.Record.Cgroup is { } cgroup)
        {
            // Processes killed a moment ago leave the cgroup only once the kernel has finished them;
            // removing it before the exit is reported lets a restart under the same id start clean.
            await RemoveCgroupAsync(cgroup);
        }

        Finish(tracked, exit);
    }

    /// <summary>Works out the exit code and reason, kills what the replica left behind, and persists the result.</summary>
    private ExitRecord RecordExit(TrackedReplica tracked, int? fallbackExitCode)
    {
        var exitPath = Path.Combine(tracked.Directory, ExitFile);
        var code = ReadExitFile(exitPath) ?? fallbackExitCode;
        if (code is { } known && !File.Exists(exitPath))
        {
            // The wrapper itself was killed (SIGKILL after grace): record what the runtime knows.
            File.WriteAllText(exitPath, known.ToString(CultureInfo.InvariantCulture) + "\n");
        }

        string reason;
        if (tracked.KillReason is { } killReason)
        {
            reason = killReason;
        }
        else if (tracked.Record.Cgroup is { } cgroup && MemoryLimiter.OomKills(cgroup) > 0)
        {
            reason = ExitReasons.OomKilled;
        }
        else
        {
            reason = code is { } c ? ExitReasons.ForExitCode(c) : ExitReasons.Unknown;
        }

        // Whatever the replica left behind in its group goes with it (as a container's processes do).
        // The group id cannot name anyone else while a member lives: the kernel does not reuse it.
        try
        {
            NativeMethods.SignalGroup(tracked.Record.Pid, NativeMethods.SigKill);
        }
        catch (InvalidOperationException)
        {
            // Nothing left to kill, or not ours to kill.
        }

        var exit = new ExitRecord(code, reason, _timeProvider.GetUtcNow());
        ProcessStateJson.WriteAtomically(Path.Combine(tracked.Directory, StatusFile), exit, ProcessStateJson.Default.ExitRecord);
        return exit;
    }

    private void Finish(TrackedReplica tracked, ExitRecord exit)
    {
        tracked.Exit = exit;
        LogExited(_logger, tracked.Record.ReplicaId, exit.ExitCode, exit.Reason);
        _events.Publish(new RuntimeEvent(RuntimeEventKind.Exited, tracked.Record.ReplicaId, exit.FinishedAt, exit.ExitCode, exit.Reason, tracked.Record.Pid.ToString(CultureInfo.InvariantCulture)));
        tracked.Exited.TrySetResult();
    }

    /// <summary>Removes a replica's cgroup once its last process is gone, waiting a bounded while for that.</summary>
    private async Task RemoveCgroupAsync(string cgroup)
    {
        for (var attempt = 0; attempt < 250; attempt++)
        {
            if (MemoryLimiter.TryRemoveDirectory(cgroup))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), _timeProvider, CancellationToken.None);
        }

        // Housekeeping tries again for every ended replica it still knows.
        LogCgroupBusy(_logger, cgroup);
    }

    /// <summary>Rebuilds the replica table from the state directory: re-adopts live replicas, reports ended ones.</summary>
    private void Adopt()
    {
        foreach (var dir in Directory.EnumerateDirectories(_replicasDirectory))
        {
            var record = ProcessStateJson.ReadOrDefault(Path.Combine(dir, RecordFile), ProcessStateJson.Default.ReplicaRecord);
            if (record is null)
            {
                continue;
            }

            var tracked = new TrackedReplica(record, dir);
            _replicas[record.ReplicaId] = tracked;
            var status = ProcessStateJson.ReadOrDefault(Path.Combine(dir, StatusFile), ProcessStateJson.Default.ExitRecord);
            if (status is not null)
            {
                tracked.Exit = status;
                tracked.ExitHandled = 1;
                tracked.Exited.TrySetResult();
            }
            else if (IsAlive(record))
            {
                LogAdopted(_logger, record.ReplicaId, record.Pid);
                _ = WatchAdoptedAsync(tracked);
                StartRssWatch(tracked);
            }
            else
            {
                // Ended while no runtime watched: the wrapper's exit file says how, if it had the chance.
                tracked.ExitHandled = 1;
                var exit = RecordExit(tracked, null);
                if (record.Cgroup is { } cgroup)
                {
                    MemoryLimiter.TryRemoveDirectory(cgroup);
                }

                Finish(tracked, exit);
            }
        }
    }

    private static bool IsAlive(ReplicaRecord record) =>
        record.StartTicks != 0 && ProcStat.Read(record.Pid) is { } stat && !stat.IsZombie && stat.StartTicks == record.StartTicks;

    private static bool SignalIfAlive(TrackedReplica tracked, int signal)
    {
        // Checking the start time first keeps a signal from reaching a process that recycled the pid.
        if (!IsAlive(tracked.Record))
        {
            return false;
        }

        return NativeMethods.SignalReplica(tracked.Record.Pid, signal);
    }

    private void Forget(TrackedReplica tracked, bool keepLogs)
    {
        _replicas.TryRemove(tracked.Record.ReplicaId, out _);
        if (tracked.Record.Cgroup is { } cgroup)
        {
            MemoryLimiter.TryRemoveDirectory(cgroup);
        }

        foreach (var file in new[] { RecordFile, StatusFile, ExitFile })
        {
            File.Delete(Path.Combine(tracked.Directory, file));
        }

        if (!keepLogs)
        {
            Directory.Delete(tracked.Directory, recursive: true);
        }

        tracked.Dispose();
    }

    /// <summary>Rotates logs of running replicas and deletes logs of removed ones after the retention.</summary>
    private async Task HousekeepingAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.LogRotationInterval, _timeProvider);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            foreach (var tracked in _replicas.Values.Where(t => t.IsRunning))
            {
                foreach (var file in new[] { StdoutFile, StderrFile })
                {
                    try
                    {
                        LogRotator.RotateIfLarger(Path.Combine(tracked.Directory, file), _options.LogMaxBytes, _options.LogMaxFiles);
                    }
                    catch (IOException ex)
                    {
                        LogRotationFailed(_logger, tracked.Record.ReplicaId, ex.Message);
                    }
                }
            }

            foreach (var tracked in _replicas.Values.Where(t => !t.IsRunning && t.Record.Cgroup is not null))
            {
                MemoryLimiter.TryRemoveDirectory(tracked.Record.Cgroup!);
            }

            var expired = _timeProvider.GetUtcNow() - _options.LogRetention;
            foreach (var dir in Directory.EnumerateDirectories(_replicasDirectory))
            {
                if (!File.Exists(Path.Combine(dir, RecordFile)) && Directory.GetLastWriteTimeUtc(dir) < expired.UtcDateTime)
                {
                    try
                    {
                        Directory.Delete(dir, recursive: true);
                    }
                    catch (IOException ex)
                    {
                        LogRotationFailed(_logger, Path.GetFileName(dir), ex.Message);
                    }
                }
            }
        }
    }

    private string ReplicaDirectory(string replicaId) => Path.Combine(_replicasDirectory, replicaId);

    private static int? ReadExitFile(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ? code : null;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static (List<string> Lines, long Length) ReadAllLines(string path)
    {
        if (!File.Exists(path))
        {
            return ([], 0);
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = reader.ReadToEnd();
        var complete = text.LastIndexOf('\n') + 1;
        var lines = text[..complete].Split('\n').SkipLast(1).ToList();
        return (lines, Encoding.UTF8.GetByteCount(text.AsSpan(0, complete)));
    }

    private static List<string> ReadNew(string path, ref long position, StringBuilder partial)
    {
        var lines = new List<string>();
        if (!File.Exists(path))
        {
            return lines;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length < position)
        {
            // Rotated (copied and truncated): start again from the beginning.
            position = 0;
        }

        stream.Seek(position, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = reader.ReadToEnd();
        position = stream.Position;
        partial.Append(text);
        var all = partial.ToString();
        var complete = all.LastIndexOf('\n') + 1;
        lines.AddRange(all[..complete].Split('\n').SkipLast(1));
        partial.Clear().Append(all, complete, all.Length - complete);
        return lines;
    }

    internal static string? FindOnPath(string program, string? path)
    {
        foreach (var dir in (path ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (IsExecutable(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path)
        && !OperatingSystem.IsWindows()
        && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Process memory limits: {Enforcement} ({Detail})")]
    private static partial void LogMemoryEnforcement(ILogger logger, string enforcement, string detail);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Started replica {ReplicaId} as pid {Pid}: {Command}")]
    private static partial void LogStarted(ILogger logger, string replicaId, int pid, string command);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Replica {ReplicaId} exited with code {ExitCode} ({Reason})")]
    private static partial void LogExited(ILogger logger, string replicaId, int? exitCode, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Re-adopted replica {ReplicaId} (pid {Pid})")]
    private static partial void LogAdopted(ILogger logger, string replicaId, int pid);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Replica {ReplicaId} uses {Rss} bytes, over its limit of {Limit}: killing it (OOMKilled)")]
    private static partial void LogRssLimitExceeded(ILogger logger, string replicaId, long rss, long limit);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Memory cgroup {Cgroup} still holds processes after its replica ended; removal retried later")]
    private static partial void LogCgroupBusy(ILogger logger, string cgroup);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Log housekeeping for {ReplicaId} failed: {Error}")]
    private static partial void LogRotationFailed(ILogger logger, string replicaId, string error);

    /// <summary>One replica the runtime knows: its record, and how it ended once it has.</summary>
    private sealed class TrackedReplica(ReplicaRecord record, string directory) : IDisposable
    {
        public int ExitHandled;

        public ReplicaRecord Record { get; } = record;

        public string Directory { get; } = directory;

        public SystemProcess? Process { get; init; }

        public TaskCompletionSource Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ExitRecord? Exit { get; set; }

        public bool KilledByRuntime { get; set; }

        public string? KillReason { get; set; }

        public bool IsRunning => !Exited.Task.IsCompleted;

        public RuntimeReplica Snapshot()
        {
            var exit = Exit;
            return new RuntimeReplica
            {
                ReplicaId = Record.ReplicaId,
                OwnerKind = Record.OwnerKind,
                OwnerName = Record.OwnerName,
                Revision = Record.Revision,
                Generation = Record.Generation,
                NodeName = Record.NodeName,
                RuntimeId = Record.Pid.ToString(CultureInfo.InvariantCulture),
                State = exit is null ? ReplicaState.Running : ReplicaState.Exited,
                ExitCode = exit?.ExitCode,
                Reason = exit?.Reason ?? "",
                StartedAt = Record.StartedAt,
                FinishedAt = exit?.FinishedAt,
            };
        }

        public void Dispose() => Process?.Dispose();
    }
}
