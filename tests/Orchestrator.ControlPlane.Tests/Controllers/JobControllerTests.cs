using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using StoreWatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// The job controller on a real embedded SQLite store and the fake clock: the agents are
/// played by writing replica statuses as the node stream would, so a whole job with a
/// failure, its back-off, completion and retention runs in milliseconds.
/// </summary>
public sealed class JobControllerTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-job-ctl");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly CancellationTokenSource _stop = new();
    private readonly ControllerOptions _options = new()
    {
        JobBackoffBase = TimeSpan.FromSeconds(10),
        JobBackoffMax = TimeSpan.FromMinutes(6),
        FinishedReplicaRetention = TimeSpan.FromHours(1),
        ResyncInterval = TimeSpan.FromDays(1),
    };

    private SqliteStateStore? _store;
    private Task? _run;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync()
    {
        _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);
        var events = new EventRecorder(Store, _time, _options, NullLogger<EventRecorder>.Instance);
        var reconciler = new JobReconciler(Store, _time, _options, events, NullLogger<JobReconciler>.Instance);
        var host = new ControllerHost<string>(reconciler, new JobControllerSource(Store), Store, _time, _options, 2, NullLogger.Instance);
        _run = Task.Run(async () =>
        {
            using (host)
            {
                await host.RunAsync(_stop.Token);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run;
        }

        _stop.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task ApplyAsync(string yaml)
    {
        var parsed = SpecParser.Parse(yaml, "job.yaml");
        Assert.Empty(parsed.Errors);
        await new SpecApplier(Store, _time, NullLogger<SpecApplier>.Instance).ApplyAsync(parsed.Documents, dryRun: false, Ct);
    }

    private async Task<List<Replica>> ReplicasAsync()
    {
        var specs = await Store.ListAsync(StoreKeys.ReplicasPrefix, 0, 0, Ct);
        var result = new List<Replica>();
        foreach (var kv in specs.Items)
        {
            var replica = ProtoJson.Decode<Replica>(kv.Value, kv.Key);
            var id = StoreKeys.NameOf(kv.Key, StoreKeys.ReplicasPrefix);
            replica.Meta.Name = id;
            var status = await Store.GetAsync(StoreKeys.ReplicaStatus(id), 0, Ct);
            replica.Status = status.Kv is null ? null : ProtoJson.Decode<ReplicaStatus>(status.Kv.Value, status.Kv.Key);
            result.Add(replica);
        }

        return result;
    }

    private async Task<JobStatus?> StatusAsync(string job)
    {
        var kv = (await Store.GetAsync(StoreKeys.JobStatus(job), 0, Ct)).Kv;
        return kv is null ? null : ProtoJson.Decode<JobStatus>(kv.Value, kv.Key);
    }

    private async Task<List<Event>> EventsAsync()
    {
        var list = await Store.ListAsync(StoreKeys.EventsPrefix, 0, 0, Ct);
        return [.. list.Items.Select(kv => ProtoJson.Decode<Event>(kv.Value, kv.Key)).OrderBy(e => e.Time.ToDateTimeOffset())];
    }

    /// <summary>What an agent reports when a replica ends (via the node stream's status writer).</summary>
    private async Task EndAsync(Replica replica, int exitCode)
    {
        var status = new ReplicaStatus
        {
            Phase = exitCode == 0 ? Phase.Succeeded : Phase.Failed,
            ExitCode = exitCode,
            Reason = exitCode == 0 ? "Completed" : "Error",
            Message = $"exited with code {exitCode}",
            FinishedAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow()),
        };
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ReplicaStatus(replica.Meta.Name), ProtoJson.Encode(status))), Ct);
    }

    private async Task<List<Replica>> WaitForReplicasAsync(Func<List<Replica>, bool> condition, string what)
    {
        List<Replica> replicas = [];
        await Eventually.TrueAsync(
            async () =>
            {
                replicas = await ReplicasAsync();
                return condition(replicas);
            },
            what,
            Ct);
        return replicas;
    }

    /// <summary>
    /// Moves the fake clock on a step at a time until the condition holds: a reconcile pass
    /// asks for its requeue only after it wrote the store, so one jump could come before the timer exists.
    /// </summary>
    private async Task<List<Replica>> AdvanceUntilAsync(Func<List<Replica>, bool> condition, string what, TimeSpan? step = null)
    {
        List<Replica> replicas = [];
        await Eventually.TrueAsync(
            async () =>
            {
                replicas = await ReplicasAsync();
                if (condition(replicas))
                {
                    return true;
                }

                _time.Advance(step ?? TimeSpan.FromSeconds(1));
                return false;
            },
            what,
            Ct);
        return replicas;
    }

    private static bool Running(Replica r) => r.Spec.Desired == DesiredState.Run && r.Status?.Phase is Phase.Pending or Phase.Running;

    [Fact]
    public async Task Only_changes_of_jobs_and_their_replicas_enqueue_a_job()
    {
        await ApplyAsync("kind: Job\nname: report\ndriver: process\ncommand: [sh, -c, 'exit 0']\n");
        var source = new JobControllerSource(Store);
        var (keys, _) = await source.ListKeysAsync(Ct);
        Assert.Equal(["report"], keys);

        static StoreWatchEvent Put(string key, Google.Protobuf.IMessage value) =>
            new(StoreWatchEventType.Put, new KeyValue(key, ProtoJson.Encode(value), 1, 2, 1, 0), null);

        var jobReplica = new Replica { Meta = new ObjectMeta { Name = "report-a1b2c" }, Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "job", Name = "report" } } };
        var serviceReplica = new Replica { Meta = new ObjectMeta { Name = "web-a1b2c" }, Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" } } };
        Assert.Equal(["report"], source.KeysOf(Put(StoreKeys.Job("report"), new Job())));
        Assert.Equal(["report"], source.KeysOf(Put(StoreKeys.Replica("report-a1b2c"), jobReplica)));
        Assert.Equal(["report"], source.KeysOf(Put(StoreKeys.ReplicaStatus("report-a1b2c"), new ReplicaStatus())));

        // A service's replicas are not the job controller's business.
        Assert.Empty(source.KeysOf(Put(StoreKeys.Replica("web-a1b2c"), serviceReplica)));
        Assert.Empty(source.KeysOf(Put(StoreKeys.ReplicaStatus("web-a1b2c"), new ReplicaStatus())));
        Assert.Empty(source.KeysOf(Put(StoreKeys.JobStatus("report"), new JobStatus())));
    }

    [Fact]
    public async Task A_job_runs_to_its_completions_with_a_retried_failure_then_its_replicas_are_deleted_after_the_retention()
    {
        await ApplyAsync("kind: Job\nname: report\ndriver: process\ncommand: [sh, -c, 'exit 0']\ncompletions: 3\nparallelism: 2\nbackoffLimit: 2\n");

        var first = await WaitForReplicasAsync(r => r.Count == 2, "two replicas (parallelism 2)");
        Assert.Equal([0, 1], first.Select(r => r.Spec.Ordinal).Order());
        Assert.All(first, r => Assert.Equal(("job", "report"), (r.Spec.Owner.Kind, r.Spec.Owner.Name)));

        await EndAsync(first.Single(r => r.Spec.Ordinal == 0), 0);
        await EndAsync(first.Single(r => r.Spec.Ordinal == 1), 1);

        // Index 2 starts at once; index 1's retry waits for the back-off.
        var second = await WaitForReplicasAsync(r => r.Count == 3, "the replica of completion 2");
        Assert.Equal(2, second.Single(Running).Spec.Ordinal);
        await Eventually.TrueAsync(async () => (await StatusAsync("report"))?.Reason == "BackOff", "the job to wait for its back-off", Ct);
        Assert.DoesNotContain(second, r => Running(r) && r.Spec.Ordinal == 1);

        var failedAt = _time.GetUtcNow();
        var third = await AdvanceUntilAsync(r => r.Count(Running) == 2, "the retry of completion 1");
        var retry = third.Single(r => Running(r) && r.Spec.Ordinal == 1);
        Assert.True(retry.Meta.CreatedAt.ToDateTimeOffset() - failedAt >= TimeSpan.FromSeconds(10), "the retry waited its back-off");

        await EndAsync(retry, 0);
        await EndAsync(third.Single(r => Running(r) && r.Spec.Ordinal == 2), 0);
        await Eventually.TrueAsync(async () => (await StatusAsync("report"))?.State == JobState.Complete, "the job to complete", Ct);

        var status = (await StatusAsync("report"))!;
        Assert.Equal(("3 of 3 completions succeeded", 3, 1, 0), (status.Message, status.Succeeded, status.Failed, status.Active));
        Assert.Equal(4, status.Replicas.Count);
        await Eventually.TrueAsync(
            async () => (await EventsAsync()).Any(e => e.Object.Kind == "job" && e.Reason == "Completed" && e.Message.StartsWith("3 of 3 completions succeeded", StringComparison.Ordinal)),
            "the Completed event",
            Ct);
        Assert.Contains(await EventsAsync(), e => e.Object.Kind == "job" && e.Reason == "ReplicaFailed" && e.Message.Contains("(completion 1) failed", StringComparison.Ordinal));

        // Finished replicas stay an hour (their logs with them), then go; the job keeps its record.
        Assert.Equal(4, (await ReplicasAsync()).Count);
        var completedAt = _time.GetUtcNow();
        await AdvanceUntilAsync(r => r.Count == 0, "the finished replicas to be deleted", TimeSpan.FromMinutes(1));
        Assert.True(_time.GetUtcNow() - completedAt >= TimeSpan.FromHours(1), "kept for the retention period");
        var kept = (await StatusAsync("report"))!;
        Assert.Equal((JobState.Complete, 3, 4), (kept.State, kept.Succeeded, kept.Replicas.Count));
    }

    [Fact]
    public async Task A_job_fails_past_its_backoff_limit_and_deleting_it_deletes_its_replicas()
    {
        await ApplyAsync("kind: Job\nname: flaky\ndriver: process\ncommand: [sh, -c, 'exit 3']\ncompletions: 2\nparallelism: 2\nbackoffLimit: 1\n");

        var first = await WaitForReplicasAsync(r => r.Count == 2, "two replicas");
        await EndAsync(first.Single(r => r.Spec.Ordinal == 0), 3);
        var retried = await AdvanceUntilAsync(r => r.Count == 3, "the retry of completion 0");
        await EndAsync(retried.Single(r => Running(r) && r.Spec.Ordinal == 0), 3);

        await Eventually.TrueAsync(async () => (await StatusAsync("flaky"))?.State == JobState.Failed, "the job to fail", Ct);
        var status = (await StatusAsync("flaky"))!;
        Assert.Equal("BackoffLimitExceeded", status.Reason);
        Assert.Matches("^replica flaky-[a-z0-9]{5} failed: exited with code 3; completion 0 failed 2 times \\(backoffLimit 1\\)$", status.Message);

        // The other index's try was stopped with the failure (and, never placed on a node here, deleted at once).
        var other = Assert.Single(status.Replicas, r => r.Ordinal == 1);
        Assert.True(other.Stopped);
        Assert.Equal(2, status.Failed);
        await Eventually.TrueAsync(
            async () => (await EventsAsync()).Any(e => e.Reason == "ReplicaStopping" && e.Message == $"Stopping replica {other.Replica}: its job failed"),
            "the stop of completion 1 to be recorded",
            Ct);

        await new ObjectCommands(Store, _time).DeleteAsync(ObjectKindInfo.Job, "flaky", Ct);
        await WaitForReplicasAsync(r => r.Count == 0, "every replica of the deleted job to be deleted");
        Assert.Null(await StatusAsync("flaky"));
    }
}
