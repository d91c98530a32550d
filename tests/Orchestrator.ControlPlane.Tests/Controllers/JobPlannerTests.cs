using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

public sealed class JobPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly ControllerOptions Options = new()
    {
        JobBackoffBase = TimeSpan.FromSeconds(10),
        JobBackoffMax = TimeSpan.FromSeconds(60),
        FinishedReplicaRetention = TimeSpan.FromHours(1),
        StopTimeoutExtra = TimeSpan.FromSeconds(10),
    };

    private readonly JobPlanner _planner = new(Options);

    private static Job Report(int completions = 3, int parallelism = 2, int backoffLimit = 3, JobStatus? status = null) => new()
    {
        Meta = new ObjectMeta { Name = "report", Generation = 2 },
        Spec = new JobSpec
        {
            Name = "report",
            Completions = completions,
            Parallelism = parallelism,
            BackoffLimit = backoffLimit,
            Template = new ReplicaTemplate { Driver = Driver.Process, Command = { "sh", "-c", "exit 0" }, StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) },
        },
        Status = status,
    };

    private static Replica R(string id, int ordinal, Phase phase = Phase.Running, int exitCode = 0, DesiredState desired = DesiredState.Run, string node = "node-1", DateTimeOffset? finishedAt = null, string message = "") => new()
    {
        Meta = new ObjectMeta { Name = id, CreatedAt = Timestamp.FromDateTimeOffset(Now.AddMinutes(-5)), UpdatedAt = Timestamp.FromDateTimeOffset(Now.AddMinutes(-5)) },
        Spec = new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = "job", Name = "report" },
            Node = node,
            Desired = desired,
            Ordinal = ordinal,
            Template = new ReplicaTemplate { StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) },
        },
        Status = new ReplicaStatus
        {
            Phase = phase,
            ExitCode = exitCode,
            Message = message,
            FinishedAt = phase is Phase.Succeeded or Phase.Failed or Phase.Lost ? Timestamp.FromDateTimeOffset(finishedAt ?? Now) : null,
        },
    };

    /// <summary>Plans with the status the previous plan produced (as the reconciler stores it, created replicas included).</summary>
    private JobPlan PlanWith(JobStatus? status, IReadOnlyList<Replica> replicas, DateTimeOffset now, int completions = 3, int parallelism = 2, int backoffLimit = 3) =>
        _planner.Plan(Report(completions, parallelism, backoffLimit, status), replicas, now);

    private static int[] Created(JobPlan plan) => plan.Actions.OfType<CreateJobReplica>().Select(a => a.Ordinal).ToArray();

    private static string[] Stopped(JobPlan plan) => plan.Actions.OfType<StopJobReplica>().Select(a => a.Id).ToArray();

    private static string[] Removed(JobPlan plan) => plan.Actions.OfType<RemoveJobReplica>().Select(a => a.Id).ToArray();

    [Fact]
    public void A_new_job_starts_parallelism_replicas_for_the_first_completion_indexes()
    {
        var plan = _planner.Plan(Report(completions: 3, parallelism: 2), [], Now);

        Assert.Equal([0, 1], Created(plan));
        Assert.All(plan.Actions.OfType<CreateJobReplica>(), c => Assert.Equal(1, c.Try));
        var status = plan.Status!;
        Assert.Equal((JobState.Running, 2, 0, 0, 2L), (status.State, status.Active, status.Succeeded, status.Failed, status.ObservedGeneration));
        Assert.Equal("0 of 3 completions succeeded, 2 running", status.Message);
        Assert.Equal(Now, status.StartedAt.ToDateTimeOffset());
    }

    [Fact]
    public void Never_more_replicas_than_the_completions_still_to_do()
    {
        var plan = _planner.Plan(Report(completions: 2, parallelism: 5), [], Now);

        Assert.Equal([0, 1], Created(plan));
    }

    [Fact]
    public void A_succeeded_replica_frees_its_slot_for_the_next_index_and_is_counted_once()
    {
        var plan = PlanWith(null, [R("report-aaaaa", 0, Phase.Succeeded), R("report-bbbbb", 1)], Now);

        Assert.Equal([2], Created(plan));
        Assert.Equal(1, plan.Status!.Succeeded);
        var e = Assert.Single(plan.Events);
        Assert.Equal(("CompletionSucceeded", "replica report-aaaaa (completion 0) succeeded on node-1; 1 of 3 completions done"), (e.Reason, e.Message));

        // The next pass sees the same replica again: no second event, still one success.
        var again = PlanWith(plan.Status, [R("report-aaaaa", 0, Phase.Succeeded), R("report-bbbbb", 1), R("report-ccccc", 2)], Now);
        Assert.Empty(again.Events);
        Assert.Empty(Created(again));
        Assert.Equal(1, again.Status!.Succeeded);
    }

    [Fact]
    public void Every_index_succeeded_completes_the_job_with_the_count_in_plain_words()
    {
        var start = PlanWith(null, [], Now.AddSeconds(-42));
        var plan = PlanWith(start.Status, [R("report-aaaaa", 0, Phase.Succeeded), R("report-bbbbb", 1, Phase.Succeeded), R("report-ccccc", 2, Phase.Succeeded)], Now);

        var status = plan.Status!;
        Assert.Equal((JobState.Complete, "Completed", "3 of 3 completions succeeded", 3, 0), (status.State, status.Reason, status.Message, status.Succeeded, status.Active));
        Assert.Equal(Now, status.CompletedAt.ToDateTimeOffset());
        Assert.Contains(plan.Events, e => e.Reason == "Completed" && e.Message == "3 of 3 completions succeeded in 42s");
        Assert.Empty(Created(plan));
    }

    [Fact]
    public void A_failed_replica_is_retried_as_a_new_replica_after_an_exponential_backoff()
    {
        var failedAt = Now;
        var first = PlanWith(null, [R("report-aaaaa", 0, Phase.Failed, exitCode: 1, finishedAt: failedAt, message: "exited with code 1"), R("report-bbbbb", 1)], Now, completions: 2);

        Assert.Empty(Created(first));
        Assert.Equal(TimeSpan.FromSeconds(10), first.RequeueAfter);
        Assert.Equal((1, "BackOff"), (first.Status!.Failed, first.Status.Reason));
        Assert.Equal(failedAt.AddSeconds(10), first.Status.NextRetryAt.ToDateTimeOffset());
        Assert.Equal("0 of 2 completions succeeded, 1 running, 1 failure of 3 allowed; next retry in 10s", first.Status.Message);
        var e = Assert.Single(first.Events);
        Assert.Equal(("ReplicaFailed", EventType.Warning), (e.Reason, e.Type));
        Assert.Equal("replica report-aaaaa (completion 0) failed on node-1: exited with code 1; 1 failure of 3 allowed", e.Message);

        var retry = PlanWith(first.Status, [R("report-aaaaa", 0, Phase.Failed, exitCode: 1, finishedAt: failedAt), R("report-bbbbb", 1)], Now.AddSeconds(10), completions: 2);
        var create = Assert.Single(retry.Actions.OfType<CreateJobReplica>());
        Assert.Equal((0, 2, "for completion 0, retry 1 of 3"), (create.Ordinal, create.Try, create.Why));

        // A second failure doubles the wait.
        var secondFailure = PlanWith(
            retry.Status,
            [R("report-aaaaa", 0, Phase.Failed, exitCode: 1, finishedAt: failedAt), R("report-bbbbb", 1), R("report-ccccc", 0, Phase.Failed, exitCode: 1, finishedAt: Now.AddSeconds(15))],
            Now.AddSeconds(15),
            completions: 2);
        Assert.Empty(Created(secondFailure));
        Assert.Equal(TimeSpan.FromSeconds(20), secondFailure.RequeueAfter);
    }

    [Fact]
    public void The_backoff_doubles_from_the_base_up_to_the_cap()
    {
        Assert.Equal(
            [10, 20, 40, 60, 60],
            new[] { 1, 2, 3, 4, 50 }.Select(n => (int)_planner.Backoff(n).TotalSeconds).ToArray());
    }

    [Fact]
    public void More_failures_than_the_backoff_limit_fail_the_job_and_stop_what_still_runs()
    {
        var replicas = new[]
        {
            R("report-aaaaa", 0, Phase.Failed, exitCode: 1, finishedAt: Now.AddSeconds(-30), message: "exited with code 1"),
            R("report-bbbbb", 1),
            R("report-ccccc", 0, Phase.Failed, exitCode: 1, finishedAt: Now, message: "exited with code 1"),
        };
        var plan = PlanWith(null, replicas, Now, backoffLimit: 1);

        var status = plan.Status!;
        Assert.Equal((JobState.Failed, "BackoffLimitExceeded", 2, 0), (status.State, status.Reason, status.Failed, status.Active));
        Assert.Equal("replica report-ccccc failed on node-1: exited with code 1; completion 0 failed 2 times (backoffLimit 1)", status.Message);
        Assert.Equal(["report-bbbbb"], Stopped(plan));
        Assert.Empty(Created(plan));
        Assert.Contains(plan.Events, e => e.Reason == "BackoffLimitExceeded" && e.Type == EventType.Warning);

        // The stopped replica ends later: it counts neither way and the job stays failed.
        var later = PlanWith(status, [replicas[0], replicas[2], R("report-bbbbb", 1, Phase.Succeeded, desired: DesiredState.Stop)], Now.AddSeconds(5), backoffLimit: 1);
        Assert.Equal((JobState.Failed, 0, 2), (later.Status!.State, later.Status.Succeeded, later.Status.Failed));
        Assert.Equal(status.Message, later.Status.Message);
        Assert.Empty(later.Events);
    }

    [Fact]
    public void A_backoff_limit_of_zero_fails_the_job_on_its_first_failure()
    {
        var plan = PlanWith(null, [R("report-aaaaa", 0, Phase.Failed, exitCode: 2, message: "exited with code 2")], Now, completions: 1, backoffLimit: 0);

        Assert.Equal(JobState.Failed, plan.Status!.State);
        Assert.Equal("replica report-aaaaa failed on node-1: exited with code 2; completion 0 failed once (backoffLimit 0)", plan.Status.Message);
    }

    [Fact]
    public void Ended_replicas_stay_for_the_retention_period_then_are_deleted_and_the_counts_remain()
    {
        var done = new[] { R("report-aaaaa", 0, Phase.Succeeded, finishedAt: Now) };
        var complete = PlanWith(null, done, Now, completions: 1);
        Assert.Equal(JobState.Complete, complete.Status!.State);
        Assert.Empty(Removed(complete));
        Assert.Equal(TimeSpan.FromHours(1), complete.RequeueAfter);

        var expired = PlanWith(complete.Status, done, Now.AddHours(1), completions: 1);
        Assert.Equal(["report-aaaaa"], Removed(expired));
        Assert.StartsWith("it ended 1h", expired.Actions.OfType<RemoveJobReplica>().Single().Why, StringComparison.Ordinal);

        var after = PlanWith(expired.Status, [], Now.AddHours(1).AddSeconds(1), completions: 1);
        Assert.Equal((JobState.Complete, 1), (after.Status!.State, after.Status.Succeeded));
        var record = Assert.Single(after.Status.Replicas);
        Assert.Equal(("report-aaaaa", Phase.Succeeded), (record.Replica, record.Phase));
        Assert.Empty(after.Actions);
    }

    [Fact]
    public void A_deleted_job_stops_its_running_replicas_and_deletes_the_ended_ones_at_once()
    {
        var plan = _planner.Plan(null, [R("report-aaaaa", 0, Phase.Succeeded), R("report-bbbbb", 1), R("report-ccccc", 2, Phase.Pending, node: "")], Now);

        Assert.Equal(["report-bbbbb", "report-ccccc"], Stopped(plan));
        Assert.Equal(["report-aaaaa"], Removed(plan));
        Assert.Null(plan.Status);

        var stopping = R("report-bbbbb", 1, desired: DesiredState.Stop);
        stopping.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(Now);
        var unreported = _planner.Plan(null, [stopping, R("report-ccccc", 2, Phase.Pending, node: "", desired: DesiredState.Stop)], Now);
        Assert.Equal(["report-ccccc"], Removed(unreported));
        Assert.Equal(TimeSpan.FromSeconds(15), unreported.RequeueAfter);

        // No report within its grace and the extra wait: deleted anyway (its node is gone).
        var late = _planner.Plan(null, [stopping], Now.AddSeconds(15));
        Assert.Equal(["report-bbbbb"], Removed(late));
    }

    [Fact]
    public void A_replica_whose_node_was_lost_counts_as_a_failure_and_is_stopped()
    {
        var plan = PlanWith(null, [R("report-aaaaa", 0, Phase.Lost), R("report-bbbbb", 1)], Now);

        Assert.Equal(1, plan.Status!.Failed);
        Assert.Equal(["report-aaaaa"], Stopped(plan));

        // Its index waits for the back-off; the index never tried takes the free slot.
        Assert.Equal([2], Created(plan));
    }

    [Fact]
    public void A_record_whose_replica_vanished_before_it_ended_counts_as_a_failure()
    {
        var first = PlanWith(null, [R("report-aaaaa", 0)], Now, completions: 1);
        var plan = PlanWith(first.Status, [], Now.AddSeconds(1), completions: 1);

        Assert.Equal(1, plan.Status!.Failed);
        Assert.Equal("Deleted", plan.Status.Replicas.Single().Reason);
    }

    public static class Seeds
    {
        public static Arbitrary<int> Any() => Arb.From(Gen.Choose(0, int.MaxValue));
    }

    /// <summary>
    /// Random jobs run to their end against a simulated cluster where each running replica
    /// succeeds, fails, stays or is lost at random and time jumps at random: at no point more
    /// than parallelism replicas run, succeeded never exceeds completions, retries never exceed
    /// backoffLimit, and the job ends Complete with every index done or Failed past its limit.
    /// </summary>
    [Property(MaxTest = 300, Arbitrary = [typeof(Seeds)])]
    public void Jobs_never_exceed_parallelism_completions_or_their_backoff_limit(int seed)
    {
        var random = new Random(seed);
        var completions = random.Next(1, 7);
        var parallelism = random.Next(1, 5);
        var backoffLimit = random.Next(0, 5);
        var now = Now;
        JobStatus? status = null;
        var world = new List<Replica>();
        var created = 0;
        var nextId = 0;

        for (var step = 0; step < 400; step++)
        {
            var plan = PlanWith(status, world, now, completions, parallelism, backoffLimit);
            status = plan.Status!.Clone();
            foreach (var action in plan.Actions)
            {
                switch (action)
                {
                    case CreateJobReplica c:
                        var id = $"report-{nextId++:d5}";
                        created++;
                        var replica = R(id, c.Ordinal, Phase.Pending);
                        replica.Meta.CreatedAt = Timestamp.FromDateTimeOffset(now);
                        world.Add(replica);
                        status.Replicas.Add(new JobReplicaRecord { Replica = id, Ordinal = c.Ordinal, Phase = Phase.Pending, CreatedAt = replica.Meta.CreatedAt });
                        break;
                    case StopJobReplica s:
                        var stopped = world.Single(r => r.Meta.Name == s.Id);
                        stopped.Spec.Desired = DesiredState.Stop;
                        stopped.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(now);
                        break;
                    case RemoveJobReplica d:
                        world.RemoveAll(r => r.Meta.Name == d.Id);
                        break;
                }
            }

            var running = world.Count(r => r.Spec.Desired == DesiredState.Run && r.Status.Phase is Phase.Pending or Phase.Running);
            Assert.True(running <= parallelism, $"{running} replicas run at once, parallelism {parallelism}");
            Assert.True(status.Succeeded <= completions, $"{status.Succeeded} succeeded of {completions}");
            Assert.True(created - status.Replicas.Select(r => r.Ordinal).Distinct().Count() <= backoffLimit, $"{created} replicas created for {completions} completions, backoffLimit {backoffLimit}");
            Assert.True(status.Active <= parallelism);

            if (status.State is JobState.Complete or JobState.Failed && world.Count == 0)
            {
                break;
            }

            // The cluster moves: each running replica may end; stopped ones end.
            foreach (var replica in world.Where(r => r.Status.Phase is Phase.Pending or Phase.Running))
            {
                var roll = replica.Spec.Desired == DesiredState.Run ? random.Next(10) : 0;
                var (phase, code) = roll switch
                {
                    0 or 1 or 2 => (Phase.Succeeded, 0),
                    3 or 4 => (Phase.Failed, 1),
                    5 => (Phase.Lost, 0),
                    _ => (Phase.Running, 0),
                };
                replica.Status.Phase = phase;
                replica.Status.ExitCode = code;
                replica.Status.FinishedAt = phase == Phase.Running ? null : Timestamp.FromDateTimeOffset(now);
            }

            now += random.Next(3) switch
            {
                0 => TimeSpan.FromSeconds(1),
                1 => plan.RequeueAfter ?? TimeSpan.FromSeconds(30),
                _ => TimeSpan.FromMinutes(random.Next(1, 90)),
            };
        }

        Assert.True(status!.State is JobState.Complete or JobState.Failed, $"the job is still {status.State}: {status.Message}");
        if (status.State == JobState.Complete)
        {
            Assert.Equal(completions, status.Succeeded);
        }
        else
        {
            Assert.True(status.Failed > backoffLimit, $"failed with {status.Failed} failures, backoffLimit {backoffLimit}");
        }
    }
}
