using System.Diagnostics;
using System.Globalization;
using System.Text;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// One real <c>orc-agent</c> child process (<c>dotnet orc-agent.dll</c>, built beside the bench by
/// its project reference) on the process runtime, with a state directory of its own, registered
/// with a control plane under a given node name. <see cref="KillAsync"/> is kill -9 of the agent
/// alone: its replicas (each under a <c>setsid</c> wrapper, in a session of its own) outlive it, as
/// they do on a real machine, and <see cref="KillOrphansAsync"/> ends them afterwards. Disposing kills
/// the agent and its replicas.
/// </summary>
internal sealed class RealAgent : IAsyncDisposable
{
    private readonly Process _process;
    private readonly AgentLog _log;

    private readonly ConsoleCancelEventHandler _onCancel;
    private readonly EventHandler _onExit;

    private RealAgent(string name, string stateDir, string logPath, Process process, AgentLog log)
    {
        Name = name;
        StateDir = stateDir;
        LogPath = logPath;
        _process = process;
        _log = log;

        // Ctrl+C or an exit that skips DisposeAsync must not leave the agent and its replicas running.
        _onCancel = (_, _) => KillEverything();
        _onExit = (_, _) => KillEverything();
        Console.CancelKeyPress += _onCancel;
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    public string Name { get; }

    public string StateDir { get; }

    public string LogPath { get; }

    public int ProcessId => _process.Id;

    /// <summary>True once the agent process ended (killed, or crashed).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Where orc-agent.dll is: beside the bench, or under node-agent/Host/bin in the bench's configuration.</summary>
    public static string AgentDll()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "orc-agent.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "orc-agent.runtimeconfig.json")))
        {
            return beside;
        }

        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent?.Name ?? "Release";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "node-agent", "Host", "bin", configuration, "net10.0", "orc-agent.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("orc-agent.dll was not found beside the bench nor under node-agent/Host/bin; build the bench (dotnet build bench/Orchestrator.Bench -c Release), which builds the agent with it");
    }

    /// <summary>
    /// Starts <c>orc-agent --runtime process</c> as node <paramref name="name"/> with the capacity of
    /// a simulated node (4 cpu, 16Gi), its state and log under <paramref name="dir"/>, and its
    /// /healthz on an ephemeral loopback port. Replicas get host ports from
    /// <paramref name="firstPort"/> on; nothing connects to them here.
    /// </summary>
    public static RealAgent Start(Uri server, string name, string dir, int firstPort, string address = "127.0.0.1", params string[] extraArgs)
    {
        var stateDir = Path.Combine(dir, name);
        Directory.CreateDirectory(stateDir);
        var logPath = Path.Combine(dir, name + ".log");
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(AgentDll());
        foreach (var arg in new[]
        {
            "--server", server.ToString(), "--name", name, "--address", address, "--runtime", "process",
            "--ports", string.Create(CultureInfo.InvariantCulture, $"{firstPort}-{firstPort + 199}"),
            "--state-dir", stateDir, "--http-listen", address + ":0", "--cpu", "4", "--memory", "16Gi",
        }.Concat(extraArgs))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "";
        var log = new AgentLog(logPath);
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet orc-agent.dll did not start");
        process.OutputDataReceived += (_, e) => log.Write(e.Data);
        process.ErrorDataReceived += (_, e) => log.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new RealAgent(name, stateDir, logPath, process, log);
    }

    /// <summary>Waits until the node's status says Ready; fails with the agent's log when it exits or does not get there in a minute.</summary>
    public async Task WaitReadyAsync(IStateStore store)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var status = await store.GetAsync(StoreKeys.NodeStatus(Name));
            if (status.Kv is not null && ProtoJson.Decode<NodeStatus>(status.Kv.Value, status.Kv.Key).State == NodeState.Ready)
            {
                return;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"orc-agent {Name} exited with {_process.ExitCode} before it was Ready; its log:\n{Tail()}");
            }

            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"orc-agent {Name} was not Ready within a minute; its log:\n{Tail()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
        }
    }

    /// <summary>SIGKILL to the agent process alone (not its replicas), and waits (at most 10 s) until it is gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }

        // WaitForExitAsync also waits for the end of its redirected output; a bound, in case a
        // replica still held the pipe (the wrapper redirects its own output at once).
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider.System);
        try
        {
            await _process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            // Killed; only its output pipe is still open.
        }
    }

    /// <summary>
    /// Ends the replicas the agent left: every process whose command line names this agent's state
    /// directory is a replica's wrapper, the leader of the replica's own process group; SIGKILL to
    /// that group ends the wrapper and the workload. Then removes the replicas' memory cgroups
    /// (<c>orc-&lt;replica id&gt;</c> below this process's own, where the agent made them), which
    /// only the dead agent would have removed. Returns how many groups were killed.
    /// </summary>
    public async Task<int> KillOrphansAsync()
    {
        var groups = KillGroups();
        await RemoveCgroupsAsync();
        return groups;
    }

    private int KillGroups()
    {
        var groups = Proc.WithCommandLineContaining(StateDir + Path.DirectorySeparatorChar)
            .Where(pid => pid != _process.Id)
            .Select(GroupOf)
            .Where(group => group is > 1)
            .Distinct()
            .ToList();
        foreach (var group in groups)
        {
            // kill(2) with a negative pid signals the whole group; the kill command does the same.
            using var kill = Process.Start(new ProcessStartInfo("kill") { UseShellExecute = false, ArgumentList = { "-KILL", "--", string.Create(CultureInfo.InvariantCulture, $"-{group}") } });
            kill?.WaitForExit(TimeSpan.FromSeconds(5));
        }

        return groups.Count;
    }

    private void KillEverything()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: false);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        KillGroups();
    }

    private async Task RemoveCgroupsAsync()
    {
        var replicas = Path.Combine(StateDir, "replicas");
        if (OwnMemoryCgroup() is not { } own || !Directory.Exists(replicas))
        {
            return;
        }

        foreach (var id in Directory.EnumerateDirectories(replicas).Select(Path.GetFileName))
        {
            var cgroup = Path.Combine(own, $"orc-{id}");
            for (var attempt = 1; attempt <= 20 && Directory.Exists(cgroup); attempt++)
            {
                try
                {
                    // rmdir: a cgroup goes once its last task has been reaped.
                    Directory.Delete(cgroup, recursive: false);
                }
                catch (IOException) when (attempt < 20)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.WriteLine($"    could not remove the memory cgroup {cgroup} of a killed replica: {e.Message}");
                }
            }
        }
    }

    /// <summary>This process's memory cgroup directory (cgroup v1 memory controller, or the v2 unified one), which agents it starts inherit.</summary>
    private static string? OwnMemoryCgroup()
    {
        try
        {
            foreach (var parts in File.ReadAllLines("/proc/self/cgroup").Select(l => l.Split(':', 3)).Where(p => p.Length == 3))
            {
                if (parts[1].Split(',').Contains("memory"))
                {
                    return "/sys/fs/cgroup/memory" + parts[2].TrimEnd('/');
                }

                if (parts[0] == "0" && parts[1].Length == 0 && File.Exists("/sys/fs/cgroup/cgroup.controllers"))
                {
                    return "/sys/fs/cgroup" + parts[2].TrimEnd('/');
                }
            }
        }
        catch (IOException)
        {
            // No cgroups to clean up.
        }

        return null;
    }

    /// <summary>The last lines of the agent's log, for an error message.</summary>
    public string Tail(int lines = 30)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(cannot read {LogPath}: {e.Message})";
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        await KillOrphansAsync();
        Console.CancelKeyPress -= _onCancel;
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        _process.Dispose();
        _log.Dispose();
    }

    private static int? GroupOf(int pid)
    {
        try
        {
            // "pid (comm) state ppid pgrp ...": comm may hold spaces, so read after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[2], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>The agent's output, written line by line; lines that come after disposal are dropped.</summary>
    private sealed class AgentLog(string path) : IDisposable
    {
        private readonly StreamWriter _writer = new(path) { AutoFlush = true };
        private readonly Lock _lock = new();
        private bool _closed;

        public void Write(string? line)
        {
            lock (_lock)
            {
                if (!_closed && line is not null)
                {
                    _writer.WriteLine(line);
                }
            }
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _closed = true;
                _writer.Dispose();
            }
        }
    }
}
