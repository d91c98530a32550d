using Orchestrator.V1;
using static Orchestrator.Cli.Tests.Samples;

namespace Orchestrator.Cli.Tests;

/// <summary><c>orc get jobs</c>, <c>orc describe job</c> and <c>orc events</c> against a fake Cluster service over real h2c gRPC.</summary>
public sealed class JobsAndEventsTests : IAsyncLifetime
{
    private FakeClusterServer _server = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await FakeClusterServer.StartAsync();
        var objects = _server.Cluster.Objects;
        objects[(ObjectKind.Job, "report")] = Wrap(FinishedReport());
        objects[(ObjectKind.Job, "nightly")] = Wrap(new Job
        {
            Meta = new ObjectMeta { Name = "nightly", CreatedAt = Ago(TimeSpan.FromMinutes(3)) },
            Spec = new JobSpec { Name = "nightly", Completions = 2, Parallelism = 1, BackoffLimit = 1 },
            Status = new JobStatus
            {
                State = JobState.Failed,
                Failed = 2,
                Reason = "BackoffLimitExceeded",
                StartedAt = Ago(TimeSpan.FromMinutes(3)),
                CompletedAt = Ago(TimeSpan.FromMinutes(2)),
                Message = "replica nightly-9zzzz failed on node-1: exited with code 1; completion 0 failed 2 times (backoffLimit 1)",
            },
        });
        objects[(ObjectKind.Replica, "report-b2c3d")] = new() { Replica = JobReplica("report-b2c3d", 1, Phase.Succeeded, 0) };
        objects[(ObjectKind.Replica, "report-c3d4e")] = new() { Replica = JobReplica("report-c3d4e", 0, Phase.Succeeded, 0) };
        objects[(ObjectKind.Replica, "web-7f3k2")] = new() { Replica = Running("web-7f3k2", "node-1", 20001) };
        foreach (var e in Events())
        {
            objects[(ObjectKind.Event, e.Id)] = new() { Event = e };
        }
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private Task<Orc.Result> Run(params string[] args) => Orc.RunAsync([.. args, "--server", _server.Address], time: new FixedTime(Now));

    /// <summary>Completions 2, one failure retried: three tries, the first one's keys already deleted after the retention.</summary>
    private static Job FinishedReport() => new()
    {
        Meta = new ObjectMeta { Name = "report", Generation = 1, CreatedAt = Ago(TimeSpan.FromMinutes(10)) },
        Spec = new JobSpec
        {
            Name = "report",
            Completions = 2,
            Parallelism = 2,
            BackoffLimit = 3,
            Template = new ReplicaTemplate { Driver = Driver.Process, Command = { "sh", "-c", "echo part done" }, Restart = RestartPolicy.OnFailure },
        },
        Status = new JobStatus
        {
            ObservedGeneration = 1,
            State = JobState.Complete,
            Succeeded = 2,
            Failed = 1,
            Reason = "Completed",
            Message = "2 of 2 completions succeeded",
            StartedAt = Ago(TimeSpan.FromMinutes(10)),
            CompletedAt = Ago(TimeSpan.FromMinutes(9)),
            Replicas =
            {
                Record("report-a1b2c", 0, Phase.Failed, 3, "exited with code 3", TimeSpan.FromMinutes(10)),
                Record("report-b2c3d", 1, Phase.Succeeded, 0, "exited with code 0", TimeSpan.FromMinutes(10)),
                Record("report-c3d4e", 0, Phase.Succeeded, 0, "exited with code 0", TimeSpan.FromSeconds(560)),
            },
        },
    };

    private static JobReplicaRecord Record(string id, int ordinal, Phase phase, int exitCode, string message, TimeSpan age) =>
        new() { Replica = id, Ordinal = ordinal, Phase = phase, ExitCode = exitCode, Message = message, Node = "node-1", CreatedAt = Ago(age) };

    private static Replica JobReplica(string id, int ordinal, Phase phase, int exitCode) => new()
    {
        Meta = new ObjectMeta { Name = id, CreatedAt = Ago(TimeSpan.FromMinutes(9)) },
        Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "job", Name = "report" }, Node = "node-1", Desired = DesiredState.Run, Ordinal = ordinal },
        Status = new ReplicaStatus { Phase = phase, ExitCode = exitCode },
    };

    private static Event E(string id, TimeSpan age, string kind, string name, EventType type, string reason, string message) => new()
    {
        Id = id,
        Time = Ago(age),
        Object = new ObjectRef { Kind = kind, Name = name },
        Type = type,
        Reason = reason,
        Message = message,
    };

    private static Event[] Events() =>
    [
        E("e3", TimeSpan.FromMinutes(9), "job", "report", EventType.Normal, "Completed", "2 of 2 completions succeeded in 1m"),
        E("e1", TimeSpan.FromMinutes(10), "job", "report", EventType.Normal, "ReplicaCreated", "Created replica report-a1b2c for completion 0"),
        E("e2", TimeSpan.FromSeconds(590), "replica", "report-a1b2c", EventType.Warning, "Error", "failed on node-1: exited with code 3"),
        E("e4", TimeSpan.FromMinutes(2), "replica", "web-7f3k2", EventType.Normal, "Ready", "ready on node-1 at http=127.0.0.2:20001"),
        E("e5", TimeSpan.FromMinutes(1), "service", "web", EventType.Normal, "ReplicaCreated", "Created replica web-7f3k2 (revision 2) to reach 1 replica"),
    ];

    [Fact]
    public async Task Get_jobs_shows_completions_status_duration_and_age()
    {
        var result = await Run("get", "jobs");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
        [
            "NAME      COMPLETIONS   STATUS     DURATION   AGE",
            "nightly   0/2           Failed     60s        3m",
            "report    2/2           Complete   60s        10m",
        ], result.StdoutLines);
    }

    [Fact]
    public async Task Describe_job_lists_every_try_with_its_exit_code_and_the_events_of_the_job_and_its_replicas()
    {
        var result = await Run("describe", "job/report");

        Assert.Equal(0, result.ExitCode);
        Golden.Assert("describe-job-report.txt", result.Stdout);
    }

    [Fact]
    public async Task Events_are_a_table_oldest_first_with_relative_times()
    {
        var result = await Run("events");

        Assert.Equal(0, result.ExitCode);
        Golden.Assert("events.txt", result.Stdout);
    }

    [Theory]
    [InlineData("job/report")]
    [InlineData("jobs/report")]
    public async Task Events_for_a_job_keep_its_own_and_its_replicas_including_deleted_ones(string target)
    {
        var result = await Run("events", "--for", target);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
        [
            "TIME        TYPE      OBJECT                 REASON           MESSAGE",
            "10m ago     Normal    job/report             ReplicaCreated   Created replica report-a1b2c for completion 0",
            "9m50s ago   Warning   replica/report-a1b2c   Error            failed on node-1: exited with code 3",
            "9m ago      Normal    job/report             Completed        2 of 2 completions succeeded in 1m",
        ], result.StdoutLines);
    }

    [Fact]
    public async Task Events_for_a_service_keep_its_replicas_events_and_json_is_a_list_of_items()
    {
        var result = await Run("events", "--for", "service/web", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        using var json = System.Text.Json.JsonDocument.Parse(result.Stdout);
        var reasons = json.RootElement.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("reason").GetString()).ToArray();
        Assert.Equal(["Ready", "ReplicaCreated"], reasons);
    }

    [Theory]
    [InlineData("report", "--for \"report\" needs a kind and a name")]
    [InlineData("pod/report", "\"pod\"")]
    public async Task A_bad_for_is_a_usage_error(string target, string error)
    {
        var result = await Run("events", "--for", target);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(error, result.Stderr, StringComparison.Ordinal);
        Assert.Empty(_server.Cluster.ListRequests);
    }

    [Fact]
    public async Task Watching_events_prints_the_current_ones_then_each_new_one_for_the_object()
    {
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var writer = _server.Cluster.WatchEvents.Writer;
        foreach (var e in Events())
        {
            await writer.WriteAsync(new WatchEvent { Type = WatchEventType.Added, Revision = 5, Object = new() { Event = e } }, Ct);
        }

        await writer.WriteAsync(new WatchEvent { Type = WatchEventType.Synced, Revision = 5 }, Ct);
        await writer.WriteAsync(new WatchEvent { Type = WatchEventType.Added, Revision = 6, Object = new() { Event = E("e6", TimeSpan.FromSeconds(2), "replica", "web-7f3k2", EventType.Normal, "Started", "started on node-1") } }, Ct);
        await writer.WriteAsync(new WatchEvent { Type = WatchEventType.Added, Revision = 7, Object = new() { Event = E("e7", TimeSpan.FromSeconds(1), "job", "report", EventType.Normal, "ReplicaDeleted", "Deleted replica report-b2c3d: it ended 1h ago") } }, Ct);
        using var console = new TestConsole();

        var run = Orc.RunAsync(["events", "-w", "--for", "job/report", "--server", _server.Address], console, interrupt.Token, time: new FixedTime(Now));
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length >= 5, "the table and the new event");
        await interrupt.CancelAsync();
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(0, exitCode);
        var lines = Orc.Lines(console.Stdout);
        Assert.Equal(5, lines.Length);
        Assert.StartsWith("TIME", lines[0], StringComparison.Ordinal);
        Assert.Contains("ReplicaDeleted", lines[4], StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("web-7f3k2", StringComparison.Ordinal));
    }
}
