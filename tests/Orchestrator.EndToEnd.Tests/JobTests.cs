using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// Jobs on a 2-node cluster of real processes (<c>sh -c</c>): the job controller, the scheduler,
/// the agents' supervisors and the logs relay together. The retry back-off starts at 200 ms here
/// so a failing job reaches its limit quickly; everything else runs with its defaults.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class JobTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async ValueTask InitializeAsync() =>
        _cluster = await TestCluster.StartAsync(
            nodes: 2,
            configureControlPlane: b => b.Services.AddSingleton(new ControllerOptions { JobBackoffBase = TimeSpan.FromMilliseconds(200), JobBackoffMax = TimeSpan.FromSeconds(1) }));

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    private async Task<Job> JobAsync(string name) =>
        (await _cluster.Api.GetAsync(new GetRequest { Kind = ObjectKind.Job, Name = name }, cancellationToken: TestContext.Current.CancellationToken)).Object.Job;

    private Task<Job> WaitJobAsync(string name, JobState state) =>
        TestCluster.EventuallyAsync(() => JobAsync(name), j => j.Status?.State == state, $"job {name} {state}", j => $"{j.Status?.State}: {j.Status?.Message}");

    [Fact]
    public async Task A_job_with_three_completions_two_at_a_time_completes_and_its_logs_stay_readable()
    {
        await _cluster.ApplyAsync("""
            kind: Job
            name: parts
            driver: process
            command: ["sh", "-c", "echo part of $ORC_JOB from $ORC_REPLICA_ID; exit 0"]
            completions: 3
            parallelism: 2
            backoffLimit: 1
            resources: { cpu: 50m, memory: 16Mi }
            """);

        var job = await WaitJobAsync("parts", JobState.Complete);

        Assert.Equal(("3 of 3 completions succeeded", 3, 0), (job.Status.Message, job.Status.Succeeded, job.Status.Failed));
        var replicas = await _cluster.ReplicasAsync("job/parts");
        Assert.Equal(3, replicas.Count);
        Assert.Equal([0, 1, 2], replicas.Select(r => r.Spec.Ordinal).Order());
        Assert.All(replicas, r => Assert.Equal((Phase.Succeeded, 0, 0), (r.Status.Phase, r.Status.ExitCode, r.Status.Restarts)));
        Assert.All(replicas, r => Assert.False(string.IsNullOrEmpty(r.Spec.Node)));

        // Ended replicas are kept (for an hour by default), so their output can still be read.
        var logs = await Orc.RunAsync("logs", "job/parts", "--server", _cluster.Server);
        Assert.Equal(0, logs.ExitCode);
        foreach (var replica in replicas)
        {
            Assert.Contains($"[{replica.Meta.Name}] part of parts from {replica.Meta.Name}", logs.StdoutLines);
        }

        var get = await Orc.RunAsync("get", "jobs", "--server", _cluster.Server);
        Assert.Matches("^parts +3/3 +Complete ", get.StdoutLines[1]);

        var events = await Orc.RunAsync("events", "--for", "job/parts", "--server", _cluster.Server);
        Assert.Equal(0, events.ExitCode);
        Assert.Contains(events.StdoutLines, l => l.Contains("Completed", StringComparison.Ordinal) && l.Contains("3 of 3 completions succeeded", StringComparison.Ordinal));
        Assert.Contains(events.StdoutLines, l => l.Contains("replica/parts-", StringComparison.Ordinal) && l.Contains("Scheduled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_job_that_keeps_failing_is_Failed_after_its_backoff_limit_with_the_exit_code_in_the_reason()
    {
        await _cluster.ApplyAsync("""
            kind: Job
            name: broken
            driver: process
            command: ["sh", "-c", "echo cannot do it >&2; exit 3"]
            completions: 1
            backoffLimit: 2
            restart: never
            resources: { cpu: 50m, memory: 16Mi }
            """);

        var job = await WaitJobAsync("broken", JobState.Failed);

        Assert.Equal(("BackoffLimitExceeded", 3, 0), (job.Status.Reason, job.Status.Failed, job.Status.Succeeded));
        Assert.Matches("^replica broken-[a-z0-9]{5} failed on node-[12]: exited with code 3; completion 0 failed 3 times \\(backoffLimit 2\\)$", job.Status.Message);
        var replicas = await _cluster.ReplicasAsync("job/broken");
        Assert.Equal(3, replicas.Count);
        Assert.All(replicas, r => Assert.Equal((Phase.Failed, 3, 0), (r.Status.Phase, r.Status.ExitCode, r.Status.Restarts)));

        var describe = await Orc.RunAsync("describe", "job", "broken", "--server", _cluster.Server);
        Assert.Equal(0, describe.ExitCode);
        Assert.Contains("State:            Failed (BackoffLimitExceeded): " + job.Status.Message, describe.StdoutLines);
        Assert.Equal(3, describe.StdoutLines.Count(l => l.StartsWith("  broken-", StringComparison.Ordinal) && l.Contains(" Failed ", StringComparison.Ordinal) && l.Contains("exited with code 3", StringComparison.Ordinal)));
    }
}
