using Google.Protobuf;
using Grpc.Core;
using Orchestrator.Cli.Commands;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using static Orchestrator.Cli.Tests.Samples;

namespace Orchestrator.Cli.Tests;

/// <summary>The CLI against a fake Cluster service over real h2c gRPC: what it sends and how it prints answers.</summary>
public sealed class WireTests : IAsyncLifetime
{
    private FakeClusterServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await FakeClusterServer.StartAsync();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private Task<Orc.Result> Run(params string[] args) => Orc.RunAsync([.. args, "--server", _server.Address]);

    [Fact]
    public async Task Apply_sends_each_file_with_the_name_as_typed_and_prints_one_line_per_object()
    {
        using var dir = new TempDirectory();
        var path = dir.File("web.yaml");
        await File.WriteAllTextAsync(path, "kind: Service\nname: web\n", TestContext.Current.CancellationToken);
        _server.Cluster.OnApply = _ => new ApplyResponse
        {
            Results =
            {
                new ApplyResult { Kind = ObjectKind.Service, Name = "web", Outcome = ApplyOutcome.Configured, Revision = 2 },
                new ApplyResult { Kind = ObjectKind.Job, Name = "report", Outcome = ApplyOutcome.Created },
            },
        };

        var result = await Run("apply", "-f", path);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["service/web configured (revision 2)", "job/report created"], result.StdoutLines);
        var request = Assert.Single(_server.Cluster.ApplyRequests);
        Assert.Equal(path, request.SourceName);
        Assert.Equal("kind: Service\nname: web\n", request.Content);
        Assert.False(request.DryRun);
        Assert.NotNull(_server.Cluster.LastDeadline);
    }

    [Fact]
    public async Task Apply_from_stdin_is_named_stdin_and_dry_run_says_so()
    {
        _server.Cluster.OnApply = r => new ApplyResponse { Results = { new ApplyResult { Kind = ObjectKind.Service, Name = "web", Outcome = ApplyOutcome.Created } } };

        var result = await Orc.RunAsync(["apply", "-f", "-", "--dry-run", "--server", _server.Address], stdin: "kind: Service\nname: web\n");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["service/web created (dry run)"], result.StdoutLines);
        var request = Assert.Single(_server.Cluster.ApplyRequests);
        Assert.Equal("<stdin>", request.SourceName);
        Assert.True(request.DryRun);
    }

    [Fact]
    public async Task Apply_rejected_prints_every_problem_then_a_summary_and_exits_1()
    {
        using var dir = new TempDirectory();
        var path = dir.File("web.yaml");
        await File.WriteAllTextAsync(path, "kind: Service\n", TestContext.Current.CancellationToken);
        _server.Cluster.OnApply = r => throw Invalid(r.SourceName, "resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?", "replicas: -1 is below 0");

        var result = await Run("apply", "-f", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(
        [
            $"{path}:1: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?",
            $"{path}:2: replicas: -1 is below 0",
            $"error: {path} has 2 problems; nothing was applied",
        ], result.StderrLines);
    }

    [Fact]
    public async Task Apply_of_several_files_validates_all_first_and_applies_none_when_one_is_bad()
    {
        using var dir = new TempDirectory();
        await File.WriteAllTextAsync(dir.File("a.yaml"), "good", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(dir.File("b.yaml"), "bad", TestContext.Current.CancellationToken);
        _server.Cluster.OnApply = r => r.Content == "bad"
            ? throw Invalid(r.SourceName, "kind: missing; add \"kind: Service\" or \"kind: Job\"")
            : new ApplyResponse { Results = { new ApplyResult { Kind = ObjectKind.Service, Name = "a", Outcome = ApplyOutcome.Created } } };

        var result = await Run("apply", "-f", dir.Path);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: {Path.Combine(dir.Path, "b.yaml")} has 1 problem; nothing was applied", result.StderrLines[^1]);
        Assert.All(_server.Cluster.ApplyRequests, r => Assert.True(r.DryRun));
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task Get_lists_a_kind_as_a_table()
    {
        _server.Cluster.Objects[(ObjectKind.Service, "web")] = Wrap(Web());
        _server.Cluster.Objects[(ObjectKind.Service, "api")] = Wrap(Api());

        var result = await Orc.RunAsync(["get", "svc", "--server", _server.Address], time: new FixedTime(Now));

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
        [
            "NAME   REPLICAS   REVISION   DRIVER    IMAGE/COMMAND                    PORTS           AGE",
            "api    1/1        1          process   python3 -m http.server ${PORT}   8000/tcp        3d4h",
            "web    2/3        2          docker    nginx:1.27                       8080->80/http   42m",
        ], result.StdoutLines);
    }

    [Fact]
    public async Task Get_of_an_empty_kind_says_so_on_stderr()
    {
        var result = await Run("get", "jobs");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(["No jobs found."], result.StderrLines);
    }

    [Fact]
    public async Task Get_of_a_missing_object_is_an_error_with_the_servers_message()
    {
        var result = await Run("get", "service/nope");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(["error: service \"nope\" not found"], result.StderrLines);
    }

    [Fact]
    public async Task Get_replicas_of_one_owner_asks_the_server_for_that_owner()
    {
        var result = await Run("get", "replicas", "--owner", "svc/web");

        Assert.Equal(0, result.ExitCode);
        var request = Assert.Single(_server.Cluster.ListRequests);
        Assert.Equal(ObjectKind.Replica, request.Kind);
        Assert.Equal("service/web", request.Owner);
    }

    [Fact]
    public async Task Get_one_object_as_json_parses_back_to_the_same_object()
    {
        _server.Cluster.Objects[(ObjectKind.Service, "web")] = Wrap(Web());

        var result = await Run("get", "service", "web", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(Web(), JsonParser.Default.Parse<Service>(result.Stdout));
    }

    [Fact]
    public async Task Delete_prints_what_it_deleted_and_a_second_delete_fails()
    {
        _server.Cluster.Objects[(ObjectKind.Service, "web")] = Wrap(Web());

        var first = await Run("delete", "service", "web");
        var second = await Run("delete", "service/web");

        Assert.Equal((0, "service/web deleted\n"), (first.ExitCode, first.Stdout.ReplaceLineEndings("\n")));
        Assert.Equal(1, second.ExitCode);
        Assert.Equal(["error: service/web not found"], second.StderrLines);
    }

    [Fact]
    public async Task Scale_prints_the_old_and_new_count()
    {
        _server.Cluster.Objects[(ObjectKind.Service, "web")] = Wrap(Web());

        var result = await Run("scale", "svc", "web", "--replicas", "5");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["service/web scaled from 3 to 5"], result.StdoutLines);
        Assert.Equal(5, _server.Cluster.Objects[(ObjectKind.Service, "web")].Service.Spec.Replicas);
    }

    [Fact]
    public async Task Version_shows_client_and_server()
    {
        var result = await Run("version");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
        [
            "Client: orc 0.1.0",
            $"Server: 0.1.0 (commit abc1234) at {_server.Address}",
            "  Store: sqlite:///tmp/state.db, revision 42",
            "  Member: cp-1 (leader)",
        ], result.StdoutLines);
    }

    [Fact]
    public async Task Rollout_history_prints_the_revisions()
    {
        _server.Cluster.Revisions.Add(Revision(1, "nginx:1.26", TimeSpan.FromHours(2), "apply"));

        var result = await Orc.RunAsync(["rollout", "history", "web", "--server", _server.Address], time: new FixedTime(Now));

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["REVISION   CAUSE   CREATED    IMAGE/COMMAND", "1          apply   120m ago   nginx:1.26"], result.StdoutLines);
    }

    [Fact]
    public async Task Describe_shows_the_object_with_its_revisions()
    {
        _server.Cluster.Objects[(ObjectKind.Service, "web")] = Wrap(Web());
        _server.Cluster.Revisions.Add(Revision(2, "nginx:1.27", TimeSpan.FromMinutes(8), "apply"));

        var result = await Orc.RunAsync(["describe", "service/web", "--server", _server.Address], time: new FixedTime(Now));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Name:             web", result.StdoutLines);
        Assert.Contains("  2 (current)   apply   8m ago    nginx:1.27", result.StdoutLines);
    }

    [Fact]
    public async Task Watch_as_json_prints_one_line_per_change_and_ends_cleanly_on_interrupt()
    {
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Added, Revision = 5, Object = Wrap(Api()) }, TestContext.Current.CancellationToken);
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Synced, Revision = 5 }, TestContext.Current.CancellationToken);
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Deleted, Revision = 6, Object = Wrap(Api()) }, TestContext.Current.CancellationToken);

        using var console = new TestConsole();
        var run = Orc.RunAsync(["get", "services", "-w", "-o", "json", "--server", _server.Address], console, interrupt.Token);
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length >= 2, "two watch lines");

        await interrupt.CancelAsync();
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var result = new Orc.Result(exitCode, console.Stdout, console.Stderr);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Stderr);
        Assert.Equal(2, result.StdoutLines.Length);
        Assert.StartsWith("{\"type\":\"ADDED\",\"kind\":\"service\",\"revision\":5,", result.StdoutLines[0], StringComparison.Ordinal);
        Assert.StartsWith("{\"type\":\"DELETED\",\"kind\":\"service\",\"revision\":6,", result.StdoutLines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_in_time_gives_one_line_naming_the_timeout()
    {
        _server.Cluster.HangOnList = true;

        var result = await Run("get", "services", "--timeout", "300ms");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal([$"error: the control plane at {_server.Address} did not answer within 300ms; try again, or allow longer with --timeout"], result.StderrLines);
    }

    [Fact]
    public async Task Watch_as_a_table_prints_the_current_rows_then_one_row_per_change()
    {
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Added, Revision = 5, Object = Wrap(Api()) }, TestContext.Current.CancellationToken);
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Synced, Revision = 5 }, TestContext.Current.CancellationToken);
        var scaled = Api();
        scaled.Spec.Replicas = 4;
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Modified, Revision = 6, Object = Wrap(scaled) }, TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var run = Orc.RunAsync(["get", "svc", "-w", "--server", _server.Address], console, interrupt.Token, time: new FixedTime(Now));
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length >= 3, "three table lines");
        await interrupt.CancelAsync();
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(0, exitCode);
        Assert.Equal(
        [
            "NAME   REPLICAS   REVISION   DRIVER    IMAGE/COMMAND                    PORTS      AGE",
            "api    1/1        1          process   python3 -m http.server ${PORT}   8000/tcp   3d4h",
            "api    1/4        1          process   python3 -m http.server ${PORT}   8000/tcp   3d4h",
        ], Orc.Lines(console.Stdout));
    }

    [Fact]
    public async Task A_watch_whose_server_goes_away_says_it_was_lost_and_exits_1()
    {
        await _server.Cluster.WatchEvents.Writer.WriteAsync(new WatchEvent { Type = WatchEventType.Added, Revision = 5, Object = Wrap(Api()) }, TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var run = Orc.RunAsync(["get", "services", "-w", "-o", "json", "--server", _server.Address], console, TestContext.Current.CancellationToken);
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length == 1, "the first watch line");
        await _server.DisposeAsync();
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Equal(1, exitCode);
        Assert.Single(Orc.Lines(console.Stderr));
        Assert.StartsWith($"error: lost the watch on the control plane at {_server.Address}", console.Stderr, StringComparison.Ordinal);
    }

    private static RpcException Invalid(string source, params string[] problems)
    {
        var errors = new ValidationErrors();
        for (var i = 0; i < problems.Length; i++)
        {
            errors.Errors.Add(new ValidationError { SourceName = source, Line = i + 1, Text = $"{source}:{i + 1}: {problems[i]}" });
        }

        var trailers = new Metadata { { ApplyCommand.ValidationErrorsTrailer, errors.ToByteArray() } };
        return new RpcException(new Status(StatusCode.InvalidArgument, string.Join('\n', errors.Errors.Select(e => e.Text))), trailers);
    }
}

/// <summary>A clock stopped at one instant.</summary>
public sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
