using Orchestrator.Cli.Output;
using Orchestrator.V1;
using static Orchestrator.Cli.Tests.Samples;

namespace Orchestrator.Cli.Tests;

/// <summary><c>orc rollout status|undo|pause|resume</c> against the fake Cluster service over real h2c gRPC.</summary>
public sealed class RolloutCommandTests : IAsyncLifetime
{
    private FakeClusterServer _server = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _server = await FakeClusterServer.StartAsync();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private Task<Orc.Result> Run(params string[] args) => Orc.RunAsync([.. args, "--server", _server.Address]);

    private static Service At(long generation, long observed, RolloutState state, int updated, int available, int replicas = 3, string reason = "", string message = "")
    {
        var service = Web();
        service.Meta.Generation = generation;
        service.Spec.Replicas = 3;
        service.Status = new ServiceStatus
        {
            ObservedGeneration = observed,
            CurrentRevision = 2,
            Replicas = replicas,
            UpdatedReplicas = updated,
            AvailableReplicas = available,
            Rollout = state,
            Reason = reason,
            Message = message,
        };
        return service;
    }

    private async Task SendAsync(WatchEventType type, Service? service = null) =>
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = type, Revision = 5, Object = service is null ? null : Wrap(service) }, Ct);

    [Fact]
    public async Task Status_prints_each_step_of_progress_and_exits_0_when_the_rollout_completes()
    {
        await SendAsync(WatchEventType.Added, At(5, 4, RolloutState.Complete, 3, 3));
        await SendAsync(WatchEventType.Synced);
        await SendAsync(WatchEventType.Modified, At(5, 5, RolloutState.Progressing, 1, 3, replicas: 4));
        await SendAsync(WatchEventType.Modified, At(5, 5, RolloutState.Progressing, 1, 3, replicas: 4));
        await SendAsync(WatchEventType.Modified, At(5, 5, RolloutState.Progressing, 3, 3, replicas: 3));
        await SendAsync(WatchEventType.Modified, At(5, 5, RolloutState.Complete, 3, 3));

        var result = await Run("rollout", "status", "web");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
        [
            "Waiting for the controller to act on generation 5 of service/web",
            "Waiting for the rollout of service/web to revision 2: 1 of 3 updated, 3 available, 3 old",
            "Waiting for the rollout of service/web to revision 2: 3 of 3 updated, 3 available",
            "service/web rolled out: revision 2, 3 of 3 available",
        ], result.StdoutLines);
    }

    [Theory]
    [InlineData(RolloutState.RolledBack, "rollout of service/web rolled back: rollout of revision 2 failed (replica web-x is crash-looping); rolled back to revision 1 [CrashLoopBackOff]")]
    [InlineData(RolloutState.Failed, "rollout of service/web failed: rollout of revision 2 failed (replica web-x is crash-looping); rolled back to revision 1 [CrashLoopBackOff]")]
    public async Task Status_exits_1_with_the_reason_when_the_rollout_failed_or_was_rolled_back(RolloutState state, string error)
    {
        await SendAsync(WatchEventType.Added, At(5, 5, state, 0, 3, reason: "CrashLoopBackOff", message: "rollout of revision 2 failed (replica web-x is crash-looping); rolled back to revision 1"));
        await SendAsync(WatchEventType.Synced);

        var result = await Run("rollout", "status", "service/web");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: {error}", result.StderrLines[0]);
    }

    [Fact]
    public async Task Status_of_a_paused_rollout_says_how_to_resume_it()
    {
        await SendAsync(WatchEventType.Added, At(5, 5, RolloutState.Paused, 1, 3));
        await SendAsync(WatchEventType.Synced);

        var result = await Run("rollout", "status", "web");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: rollout of service/web is paused (1 of 3 updated); orc rollout resume web lets it go on", result.StderrLines[0]);
    }

    [Fact]
    public async Task Status_gives_up_at_the_timeout_with_the_last_progress()
    {
        await SendAsync(WatchEventType.Added, At(5, 5, RolloutState.Progressing, 1, 2));
        await SendAsync(WatchEventType.Synced);

        var result = await Run("rollout", "status", "web", "--timeout", "3s");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: timed out after 3s waiting for the rollout of service/web: Waiting for the rollout of service/web to revision 2: 1 of 3 updated, 2 available, 2 old", result.StderrLines[0]);
    }

    [Fact]
    public async Task Status_of_a_missing_service_says_so()
    {
        await SendAsync(WatchEventType.Synced);

        var result = await Run("rollout", "status", "web");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: service/web not found", result.StderrLines[0]);
    }

    [Fact]
    public async Task On_a_terminal_progress_is_one_line_redrawn_with_a_bar()
    {
        using var console = new TerminalConsole();
        var writer = new RolloutStatusWriter(console, "service/web");

        Assert.Null(await writer.ShowAsync(At(5, 5, RolloutState.Progressing, 1, 1), Ct));
        Assert.Equal(0, await writer.ShowAsync(At(5, 5, RolloutState.Complete, 3, 3), Ct));

        Assert.Equal(
            "\r[#######.............] Waiting for the rollout of service/web to revision 2: 1 of 3 updated, 1 available, 2 old\u001b[K\n"
            + "service/web rolled out: revision 2, 3 of 3 available\n",
            console.Text);
    }

    [Fact]
    public async Task Undo_sends_the_revision_and_says_what_happened()
    {
        var result = await Run("rollout", "undo", "web", "--to-revision", "1");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["service/web rolled back from revision 3 to revision 1; follow it with: orc rollout status web"], result.StdoutLines);

        result = await Run("rollout", "undo", "service/web");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal([1L, 0L], _server.Cluster.RolloutRequests.OfType<RolloutUndoRequest>().Select(r => r.ToRevision));
    }

    [Fact]
    public async Task Undo_to_a_revision_that_does_not_exist_prints_the_servers_reason()
    {
        var result = await Run("rollout", "undo", "web", "--to-revision", "9");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("service \"web\" has no revision 9; its history holds revisions 1, 2, 3 ('orc rollout history web')", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("two")]
    [InlineData("-1")]
    public async Task Undo_refuses_a_revision_that_is_not_a_number_and_sends_nothing(string revision)
    {
        var result = await Run("rollout", "undo", "web", "--to-revision", revision);

        Assert.Equal(2, result.ExitCode);
        Assert.Empty(_server.Cluster.RolloutRequests);
    }

    [Fact]
    public async Task Pause_and_resume_say_whether_anything_changed()
    {
        Assert.Equal(["service/web paused"], (await Run("rollout", "pause", "web")).StdoutLines);
        Assert.Equal(["service/web is not paused"], (await Run("rollout", "resume", "web")).StdoutLines);
        var missing = await Run("rollout", "pause", "nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("error: service \"nope\" not found", missing.StderrLines[0]);
    }

    [Fact]
    public async Task Describe_shows_a_paused_service_and_its_stable_and_failed_revisions()
    {
        var service = At(5, 5, RolloutState.Failed, 1, 3, reason: "ProgressDeadlineExceeded", message: "rollout of revision 2 failed");
        service.Spec.Paused = true;
        service.Status.StableRevision = 1;
        service.Status.FailedRevision = 2;
        _server.Cluster.Objects[(ObjectKind.Service, "web")] = Wrap(service);

        var result = await Run("describe", "service/web");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Paused:           yes (orc rollout resume web goes on)", result.StdoutLines);
        Assert.Contains("Stable revision:  1 (the last one rolled out completely; a failure goes back to it)", result.StdoutLines);
        Assert.Contains("Failed revision:  2", result.StdoutLines);
    }

    private sealed class TerminalConsole : IConsoleIO, IDisposable
    {
        private readonly StringWriter _out = new();
        private readonly StringWriter _error = new();
        private readonly StringReader _in = new("");

        public TextWriter Out => _out;

        public TextWriter Error => _error;

        public TextReader In => _in;

        public bool IsTerminal => true;

        public int Width => 200;

        public string Text => _out.ToString();

        public void Dispose()
        {
            _out.Dispose();
            _error.Dispose();
            _in.Dispose();
        }
    }
}
