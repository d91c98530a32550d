using Orchestrator.NodeAgent.Runtime;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Runtime;

/// <summary>
/// The behaviour every <see cref="IContainerRuntime"/> must have, run against each implementation
/// (process: host processes; docker: a real daemon). Waits are on events or log lines, each bounded
/// by a generous timeout that only matters when the runtime is broken.
/// </summary>
public abstract class ContainerRuntimeContractTests : IAsyncDisposable
{
    /// <summary>An upper bound for anything to happen; never a measurement.</summary>
    protected static readonly TimeSpan Bounded = TimeSpan.FromSeconds(60);

    private readonly List<IContainerRuntime> _runtimes = [];
    private readonly List<string> _replicaIds = [];

    /// <summary>Skips (or fails under ORC_REQUIRE_INTEGRATION=1) when the runtime cannot run here.</summary>
    protected abstract ValueTask EnsureAvailableAsync();

    /// <summary>A new runtime instance on the same state (state directory, or Docker labels) as the earlier ones.</summary>
    protected abstract IContainerRuntime CreateRuntime();

    /// <summary>Makes <paramref name="launch"/> run <c>sh -c script orc-sh args...</c> with busybox at <c>/bin/busybox</c>.</summary>
    protected abstract ReplicaLaunch WithShell(ReplicaLaunch launch, string script, IReadOnlyList<string> args);

    /// <summary>Whether the replica listens on the host port (processes) or the container port (mapped containers).</summary>
    protected abstract bool ListensOnHostPort { get; }

    /// <summary>The node the replicas run for; a runtime shared with other test runs uses a unique one.</summary>
    protected virtual string NodeName => "node-test";

    protected async Task<IContainerRuntime> NewRuntimeAsync()
    {
        await EnsureAvailableAsync();
        var runtime = CreateRuntime();
        _runtimes.Add(runtime);
        return runtime;
    }

    protected ReplicaLaunch Launch(string script, IReadOnlyList<ReplicaPort>? ports = null, IReadOnlyList<string>? args = null, long memoryBytes = 0)
    {
        var id = $"rt-{Guid.NewGuid():N}"[..20];
        _replicaIds.Add(id);
        var launch = new ReplicaLaunch
        {
            ReplicaId = id,
            OwnerKind = "service",
            OwnerName = "web",
            Revision = 3,
            Generation = 5,
            NodeName = NodeName,
            NodeAddress = "127.0.0.1",
            Environment = new Dictionary<string, string> { ["GREETING"] = "hello" },
            Ports = ports ?? [],
            MemoryBytes = memoryBytes,
            StopGrace = TimeSpan.FromSeconds(20),
        };
        return WithShell(launch, "bb=/bin/busybox\n" + script, args ?? []);
    }

    [Fact]
    public async Task Start_runs_the_command_with_the_standard_environment_and_serves_on_PORT()
    {
        var runtime = await NewRuntimeAsync();
        int httpPort = FreePort.Next(), adminPort = FreePort.Next();
        var launch = Launch(
            """
            $bb mkdir -p www
            echo "PORT=$PORT PORT_HTTP=$PORT_HTTP PORT_ADMIN_UI=$PORT_ADMIN_UI ORC_REPLICA_ID=$ORC_REPLICA_ID ORC_NODE=$ORC_NODE ORC_SERVICE=$ORC_SERVICE ORC_REVISION=$ORC_REVISION GREETING=$GREETING ARG=$1" > www/index.html
            exec $bb httpd -f -p "$PORT" -h www
            """,
            ports: [new ReplicaPort("http", 8080, httpPort), new ReplicaPort("admin-ui", 9090, adminPort)],
            args: ["${PORT_ADMIN_UI}-${ORC_NODE}"]);

        await runtime.StartAsync(launch, TestContext.Current.CancellationToken);

        var body = await GetUntilServedAsync(httpPort);
        var port = ListensOnHostPort ? httpPort : 8080;
        var admin = ListensOnHostPort ? adminPort : 9090;
        Assert.Equal(
            $"PORT={port} PORT_HTTP={port} PORT_ADMIN_UI={admin} ORC_REPLICA_ID={launch.ReplicaId} ORC_NODE={NodeName} ORC_SERVICE=web ORC_REVISION=3 GREETING=hello ARG={admin}-{NodeName}",
            body.Trim());
    }

    [Fact]
    public async Task Start_is_idempotent_by_replica_id()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("while true; do $bb sleep 1; done");
        var ct = TestContext.Current.CancellationToken;

        var first = await runtime.StartAsync(launch, ct);
        var second = await runtime.StartAsync(launch, ct);

        Assert.False(first.AlreadyRunning);
        Assert.True(second.AlreadyRunning);
        Assert.Equal(first.RuntimeId, second.RuntimeId);
        var listed = Assert.Single(await runtime.ListAsync(ct), r => r.ReplicaId == launch.ReplicaId);
        Assert.Equal(ReplicaState.Running, listed.State);
    }

    [Fact]
    public async Task Exit_code_is_reported_through_watch_as_soon_as_the_replica_exits()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("echo working; exit 3");
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);

        await runtime.StartAsync(launch, cts.Token);
        var exited = await NextExitAsync(events, launch.ReplicaId, cts.Token);

        Assert.Equal(3, exited.ExitCode);
        Assert.Equal(ExitReasons.Error, exited.Reason);
        var listed = Assert.Single(await runtime.ListAsync(cts.Token), r => r.ReplicaId == launch.ReplicaId);
        Assert.Equal(ReplicaState.Exited, listed.State);
        Assert.Equal(3, listed.ExitCode);
        Assert.NotNull(listed.FinishedAt);
    }

    [Fact]
    public async Task Watch_reports_the_start_and_a_clean_exit_as_Completed_naming_the_run()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("exit 0");
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);

        var handle = await runtime.StartAsync(launch, cts.Token);

        var seen = new List<RuntimeEvent>();
        await foreach (var e in events.WithCancellation(cts.Token))
        {
            if (e.ReplicaId != launch.ReplicaId)
            {
                continue;
            }

            seen.Add(e);
            if (e.Kind == RuntimeEventKind.Exited)
            {
                break;
            }
        }

        Assert.Equal([RuntimeEventKind.Started, RuntimeEventKind.Exited], seen.Select(e => e.Kind));
        Assert.Equal(0, seen[^1].ExitCode);
        Assert.Equal(ExitReasons.Completed, seen[^1].Reason);
        Assert.All(seen, e => Assert.Equal(handle.RuntimeId, e.RuntimeId));
    }

    [Fact]
    public async Task Stop_sends_SIGTERM_first_so_a_workload_that_traps_it_exits_cleanly()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("trap 'echo got TERM; exit 0' TERM\necho ready\nwhile true; do $bb sleep 1; done");
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        await runtime.StartAsync(launch, cts.Token);
        await WaitForLogLineAsync(runtime, launch.ReplicaId, "ready", cts.Token);

        await runtime.StopAsync(launch.ReplicaId, TimeSpan.FromSeconds(30), cts.Token);

        var exited = await NextExitAsync(events, launch.ReplicaId, cts.Token);
        Assert.Equal(0, exited.ExitCode);
        Assert.Equal(ExitReasons.Completed, exited.Reason);
    }

    [Fact]
    public async Task Stop_kills_a_workload_that_ignores_SIGTERM_once_the_grace_is_over()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("trap '' TERM\necho ready\nwhile true; do $bb sleep 1; done");
        using var cts = Bound();
        await runtime.StartAsync(launch, cts.Token);
        await WaitForLogLineAsync(runtime, launch.ReplicaId, "ready", cts.Token);

        await runtime.StopAsync(launch.ReplicaId, TimeSpan.FromMilliseconds(500), cts.Token);

        var listed = Assert.Single(await runtime.ListAsync(cts.Token), r => r.ReplicaId == launch.ReplicaId);
        Assert.Equal(ReplicaState.Exited, listed.State);
        Assert.Equal(128 + 9, listed.ExitCode);
    }

    [Fact]
    public async Task A_watch_ends_when_the_runtime_is_disposed()
    {
        var runtime = await NewRuntimeAsync();
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        var reading = Task.Run(
            async () =>
            {
                await foreach (var _ in events)
                {
                }
            },
            cts.Token);

        await DisposeRuntimeAsync(runtime);
        _runtimes.Remove(runtime);

        // Cancellation by the bound would throw here instead: the stream must end by itself.
        await reading;
        Assert.False(cts.IsCancellationRequested);
    }

    [Fact]
    public async Task An_invalid_replica_id_is_rejected_with_a_clear_error()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("true") with { ReplicaId = "../escape" };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => runtime.StartAsync(launch, TestContext.Current.CancellationToken));

        Assert.Contains("replica id \"../escape\" is not valid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_and_remove_of_an_unknown_replica_do_nothing()
    {
        var runtime = await NewRuntimeAsync();
        var ct = TestContext.Current.CancellationToken;

        await runtime.StopAsync("rt-never-started", TimeSpan.FromSeconds(1), ct);
        await runtime.RemoveAsync("rt-never-started", ct);

        Assert.DoesNotContain(await runtime.ListAsync(ct), r => r.ReplicaId == "rt-never-started");
    }

    [Fact]
    public async Task Remove_stops_the_replica_and_forgets_it()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("while true; do $bb sleep 1; done");
        var ct = TestContext.Current.CancellationToken;
        await runtime.StartAsync(launch, ct);

        await runtime.RemoveAsync(launch.ReplicaId, ct);

        Assert.DoesNotContain(await runtime.ListAsync(ct), r => r.ReplicaId == launch.ReplicaId);
    }

    [Fact]
    public async Task A_new_runtime_instance_re_adopts_a_running_replica_and_reports_how_it_ends()
    {
        var first = await NewRuntimeAsync();
        var launch = Launch("trap 'exit 7' TERM\necho ready\nwhile true; do $bb sleep 1; done");
        using var cts = Bound();
        var handle = await first.StartAsync(launch, cts.Token);
        await WaitForLogLineAsync(first, launch.ReplicaId, "ready", cts.Token);
        await DisposeRuntimeAsync(first);
        _runtimes.Remove(first);

        var second = CreateRuntime();
        _runtimes.Add(second);
        var adopted = Assert.Single(await second.ListAsync(cts.Token), r => r.ReplicaId == launch.ReplicaId);
        Assert.Equal(ReplicaState.Running, adopted.State);
        Assert.Equal(handle.RuntimeId, adopted.RuntimeId);
        Assert.Equal(("service", "web", 3L, 5L, NodeName), (adopted.OwnerKind, adopted.OwnerName, adopted.Revision, adopted.Generation, adopted.NodeName));
        var again = await second.StartAsync(launch, cts.Token);
        Assert.True(again.AlreadyRunning);

        var events = second.WatchAsync(cts.Token);
        await second.StopAsync(launch.ReplicaId, TimeSpan.FromSeconds(30), cts.Token);

        var exited = await NextExitAsync(events, launch.ReplicaId, cts.Token);
        Assert.Equal(7, exited.ExitCode);
        var listed = Assert.Single(await second.ListAsync(cts.Token), r => r.ReplicaId == launch.ReplicaId);
        Assert.Equal(7, listed.ExitCode);
    }

    [Fact]
    public async Task A_replica_exceeding_its_memory_limit_ends_with_reason_OOMKilled()
    {
        var runtime = await NewRuntimeAsync();

        // Holds about 200 MB in one shell variable, then waits: bounded, so it can never eat the machine.
        var launch = Launch("x=$($bb yes | $bb head -c 209715200)\necho allocated\n$bb sleep 600", memoryBytes: 64L * 1024 * 1024);
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);

        await runtime.StartAsync(launch, cts.Token);

        var exited = await NextExitAsync(events, launch.ReplicaId, cts.Token);
        Assert.Equal(ExitReasons.OomKilled, exited.Reason);
        Assert.NotEqual(0, exited.ExitCode);
    }

    [Fact]
    public async Task Logs_are_captured_per_stream()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("echo oops >&2\necho one\necho two");
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        await runtime.StartAsync(launch, cts.Token);
        await NextExitAsync(events, launch.ReplicaId, cts.Token);
        var logs = Assert.IsAssignableFrom<IReplicaLogs>(runtime);

        var all = await ReadAllAsync(logs.ReadLogsAsync(launch.ReplicaId, null, follow: false, cts.Token));

        Assert.Equal(["one", "two"], all.Where(l => l.Stream == LogStream.Stdout).Select(l => l.Text));
        Assert.Equal(["oops"], all.Where(l => l.Stream == LogStream.Stderr).Select(l => l.Text));
    }

    [Fact]
    public async Task Logs_read_with_a_tail_give_the_last_lines()
    {
        // One stream only: how lines of two streams interleave is not defined (Docker records each
        // pipe as it drains it; the process runtime keeps them in two files).
        var runtime = await NewRuntimeAsync();
        var launch = Launch("echo one\necho two\necho three");
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        await runtime.StartAsync(launch, cts.Token);
        await NextExitAsync(events, launch.ReplicaId, cts.Token);
        var logs = Assert.IsAssignableFrom<IReplicaLogs>(runtime);

        var tail = await ReadAllAsync(logs.ReadLogsAsync(launch.ReplicaId, 2, follow: false, cts.Token));

        Assert.Equal(["two", "three"], tail.Select(l => l.Text));
    }

    public async ValueTask DisposeAsync()
    {
        if (_runtimes.Count > 0)
        {
            var last = _runtimes[^1];
            foreach (var id in _replicaIds)
            {
                try
                {
                    await last.RemoveAsync(id, CancellationToken.None);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Best effort: the fixture's own cleanup (labels, temp dir) catches the rest.
                }
            }
        }

        foreach (var runtime in _runtimes)
        {
            await DisposeRuntimeAsync(runtime);
        }

        await DisposeFixtureAsync();
        GC.SuppressFinalize(this);
    }

    protected virtual ValueTask DisposeFixtureAsync() => ValueTask.CompletedTask;

    protected static CancellationTokenSource Bound()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(Bounded);
        return cts;
    }

    protected static async Task<RuntimeEvent> NextExitAsync(IAsyncEnumerable<RuntimeEvent> events, string replicaId, CancellationToken cancellationToken)
    {
        await foreach (var e in events.WithCancellation(cancellationToken))
        {
            if (e.ReplicaId == replicaId && e.Kind == RuntimeEventKind.Exited)
            {
                return e;
            }
        }

        throw new InvalidOperationException($"the event stream ended before {replicaId} exited");
    }

    protected static async Task WaitForLogLineAsync(IContainerRuntime runtime, string replicaId, string text, CancellationToken cancellationToken)
    {
        var logs = Assert.IsAssignableFrom<IReplicaLogs>(runtime);
        await foreach (var line in logs.ReadLogsAsync(replicaId, null, follow: true, cancellationToken))
        {
            if (line.Text.Contains(text, StringComparison.Ordinal))
            {
                return;
            }
        }

        Assert.Fail($"{replicaId} ended without writing \"{text}\"");
    }

    protected static async Task<List<LogLine>> ReadAllAsync(IAsyncEnumerable<LogLine> lines)
    {
        var result = new List<LogLine>();
        await foreach (var line in lines)
        {
            result.Add(line);
        }

        return result;
    }

    protected static async Task<string> GetUntilServedAsync(int port)
    {
        using var cts = Bound();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (true)
        {
            try
            {
                return await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/index.html"), cts.Token);
            }
            catch (HttpRequestException) when (!cts.IsCancellationRequested)
            {
                // Not listening yet.
                await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System, cts.Token);
            }
        }
    }

    private static async ValueTask DisposeRuntimeAsync(IContainerRuntime runtime)
    {
        if (runtime is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else if (runtime is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}
