using System.Globalization;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.NodeAgent.Runtime.Process;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Runtime;

/// <summary>The runtime contract against host processes, plus what only the process runtime promises.</summary>
public sealed class ProcessRuntimeContractTests : ContainerRuntimeContractTests
{
    private const string Busybox = "/bin/busybox";

    private readonly TempDirectory _state = new("orc-process-runtime");

    protected override bool ListensOnHostPort => true;

    private MemoryEnforcementMode Mode { get; set; } = MemoryEnforcementMode.Auto;

    private long LogMaxBytes { get; set; } = 10 * 1024 * 1024;

    protected override ValueTask EnsureAvailableAsync()
    {
        Integration.Need(OperatingSystem.IsLinux(), "Linux", "the process runtime needs /proc and process groups");
        Integration.Need(File.Exists(Busybox), Busybox, "install it with `apt-get install busybox-static`");
        return ValueTask.CompletedTask;
    }

    protected override IContainerRuntime CreateRuntime() => new ProcessRuntime(Options(), TimeProvider.System);

    protected override ReplicaLaunch WithShell(ReplicaLaunch launch, string script, IReadOnlyList<string> args) =>
        launch with { Command = [Busybox, "sh", "-c", script, "orc-sh", .. args] };

    private ProcessRuntimeOptions Options() => new()
    {
        StateDirectory = _state.Path,
        MemoryEnforcement = Mode,

        // Short intervals keep re-adopted exits and RSS kills quick; correctness never depends on them.
        AdoptedExitPollInterval = TimeSpan.FromMilliseconds(100),
        RssWatchInterval = TimeSpan.FromMilliseconds(100),
        LogFollowInterval = TimeSpan.FromMilliseconds(50),
        LogMaxBytes = LogMaxBytes,
        LogRotationInterval = TimeSpan.FromMilliseconds(50),
    };

    [Fact]
    public async Task Memory_limit_is_enforced_by_watching_RSS_when_no_cgroup_is_used()
    {
        Mode = MemoryEnforcementMode.RssWatch;
        var runtime = Assert.IsType<ProcessRuntime>(await NewRuntimeAsync());
        Assert.Equal(MemoryEnforcement.RssWatch, runtime.MemoryEnforcement);
        Assert.Equal("rss-watch", runtime.MemoryEnforcementName);
        var launch = Launch("x=$($bb yes | $bb head -c 209715200)\n$bb sleep 600", memoryBytes: 64L * 1024 * 1024);
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);

        await runtime.StartAsync(launch, cts.Token);

        var exited = await NextExitAsync(events, launch.ReplicaId, cts.Token);
        Assert.Equal(ExitReasons.OomKilled, exited.Reason);
        Assert.Equal(128 + 9, exited.ExitCode);
    }

    [Fact]
    public async Task Memory_enforcement_names_what_it_uses_and_why()
    {
        var runtime = Assert.IsType<ProcessRuntime>(await NewRuntimeAsync());

        Assert.Contains(runtime.MemoryEnforcementName, new[] { "cgroup-v1", "cgroup-v2", "rss-watch" });
        Assert.NotEmpty(runtime.MemoryEnforcementDetail);
    }

    [Fact]
    public async Task A_replica_in_a_cgroup_has_its_limit_written_below_the_agents_own_cgroup()
    {
        var runtime = Assert.IsType<ProcessRuntime>(await NewRuntimeAsync());
        if (runtime.MemoryEnforcement != MemoryEnforcement.CgroupV1)
        {
            Assert.Skip($"this machine enforces memory with {runtime.MemoryEnforcementName} ({runtime.MemoryEnforcementDetail}); the check is for cgroup v1");
        }

        var launch = Launch("echo ready\nwhile true; do $bb sleep 1; done", memoryBytes: 48L * 1024 * 1024);
        using var cts = Bound();
        var handle = await runtime.StartAsync(launch, cts.Token);
        await WaitForLogLineAsync(runtime, launch.ReplicaId, "ready", cts.Token);

        var own = File.ReadAllLines("/proc/self/cgroup").Select(l => l.Split(':', 3)).First(p => p[1].Split(',').Contains("memory"))[2];
        var replica = File.ReadAllLines($"/proc/{handle.RuntimeId}/cgroup").Select(l => l.Split(':', 3)).First(p => p[1].Split(',').Contains("memory"))[2];
        Assert.Equal($"{own.TrimEnd('/')}/orc-{launch.ReplicaId}", replica);
        Assert.Equal((48L * 1024 * 1024).ToString(CultureInfo.InvariantCulture), File.ReadAllText($"/sys/fs/cgroup/memory{replica}/memory.limit_in_bytes").Trim());

        // Once it has ended, its cgroup is gone with it (the sleeping child included).
        await runtime.StopAsync(launch.ReplicaId, TimeSpan.Zero, cts.Token);
        Assert.False(Directory.Exists($"/sys/fs/cgroup/memory{replica}"));
    }

    [Fact]
    public async Task A_re_adopted_replica_that_exits_by_itself_reports_its_exit_code_from_the_exit_file()
    {
        var first = await NewRuntimeAsync();
        var launch = Launch("echo ready\nwhile [ ! -f go ]; do $bb sleep 0.05; done\nexit 5");
        using var cts = Bound();
        await first.StartAsync(launch, cts.Token);
        await WaitForLogLineAsync(first, launch.ReplicaId, "ready", cts.Token);
        await ((IAsyncDisposable)first).DisposeAsync();

        var second = await NewRuntimeAsync();
        var events = second.WatchAsync(cts.Token);
        await File.WriteAllTextAsync(Path.Combine(_state.Path, "replicas", launch.ReplicaId, "go"), "", cts.Token);

        var exited = await NextExitAsync(events, launch.ReplicaId, cts.Token);
        Assert.Equal(5, exited.ExitCode);
        Assert.Equal(ExitReasons.Error, exited.Reason);
    }

    [Fact]
    public async Task A_recycled_pid_is_never_adopted()
    {
        await EnsureAvailableAsync();
        var dir = Directory.CreateDirectory(Path.Combine(_state.Path, "replicas", "rt-recycled")).FullName;

        // Our own pid is alive, but its start time differs from the recorded one: someone else's process now.
        await File.WriteAllTextAsync(
            Path.Combine(dir, "replica.json"),
            $$"""{ "replicaId": "rt-recycled", "pid": {{System.Environment.ProcessId}}, "startTicks": 1, "startedAt": "2026-01-01T00:00:00Z" }""",
            TestContext.Current.CancellationToken);

        var runtime = await NewRuntimeAsync();

        var listed = Assert.Single(await runtime.ListAsync(TestContext.Current.CancellationToken), r => r.ReplicaId == "rt-recycled");
        Assert.Equal(ReplicaState.Exited, listed.State);
        Assert.Equal(ExitReasons.Unknown, listed.Reason);
        Assert.Null(listed.ExitCode);
    }

    [Fact]
    public async Task Remove_right_after_start_leaves_no_process_behind()
    {
        var runtime = await NewRuntimeAsync();
        var ct = TestContext.Current.CancellationToken;

        // Removing at once races the wrapper's setsid; every round must still end the wrapper.
        for (var round = 0; round < 5; round++)
        {
            var launch = Launch("while true; do $bb sleep 1; done");
            var handle = await runtime.StartAsync(launch, ct);
            var started = ProcStat.Read(int.Parse(handle.RuntimeId, CultureInfo.InvariantCulture));

            await runtime.RemoveAsync(launch.ReplicaId, ct);

            var now = ProcStat.Read(int.Parse(handle.RuntimeId, CultureInfo.InvariantCulture));
            Assert.True(now is null || now.Value.StartTicks != started?.StartTicks || now.Value.IsZombie, $"round {round}: the wrapper still runs");
        }
    }

    [Fact]
    public async Task Log_files_of_a_running_replica_rotate_by_size_and_keep_being_written()
    {
        LogMaxBytes = 1000;
        var runtime = await NewRuntimeAsync();
        // head copies 3000 bytes from /dev/zero straight to the log in one write, so the rotation sees all or nothing.
        var launch = Launch("$bb head -c 3000 /dev/zero\nwhile [ ! -f go ]; do $bb sleep 0.05; done\necho after");
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        await runtime.StartAsync(launch, cts.Token);
        var dir = Path.Combine(_state.Path, "replicas", launch.ReplicaId);
        var rotated = Path.Combine(dir, "stdout.log.1");
        while (!File.Exists(rotated))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, cts.Token);
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "go"), "", cts.Token);
        await NextExitAsync(events, launch.ReplicaId, cts.Token);

        Assert.Equal(3000, new FileInfo(rotated).Length);
        Assert.Equal("after\n", await File.ReadAllTextAsync(Path.Combine(dir, "stdout.log"), cts.Token));
    }

    [Fact]
    public async Task A_missing_command_fails_the_start_with_CommandNotFound()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("true") with { Command = ["no-such-program-here", "--flag"] };

        var error = await Assert.ThrowsAsync<ReplicaStartException>(() => runtime.StartAsync(launch, TestContext.Current.CancellationToken));

        Assert.Equal(ExitReasons.CommandNotFound, error.Reason);
        Assert.Contains("\"no-such-program-here\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HOME_comes_from_the_agent_and_expands_in_the_command()
    {
        // examples/demo-process.yaml runs "dotnet ${HOME}/.orc/demo-app/orc-demo.dll" and relies on this.
        var home = System.Environment.GetEnvironmentVariable("HOME");
        if (string.IsNullOrEmpty(home))
        {
            Assert.Skip("HOME is not set for the tests, so there is nothing for a replica to inherit");
        }

        var runtime = await NewRuntimeAsync();
        var launch = Launch("true") with { Command = [Busybox, "sh", "-c", "echo \"$1 $HOME\"", "orc-sh", "${HOME}/.orc/demo-app"] };
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        await runtime.StartAsync(launch, cts.Token);
        await NextExitAsync(events, launch.ReplicaId, cts.Token);
        var logs = Assert.IsAssignableFrom<IReplicaLogs>(runtime);

        var lines = await ReadAllAsync(logs.ReadLogsAsync(launch.ReplicaId, null, follow: false, cts.Token));

        Assert.Equal([$"{home}/.orc/demo-app {home}"], lines.Where(l => l.Stream == LogStream.Stdout).Select(l => l.Text));
    }

    protected override ValueTask DisposeFixtureAsync()
    {
        _state.Dispose();
        return ValueTask.CompletedTask;
    }
}
