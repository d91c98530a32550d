using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>One change the job controller makes to move a job towards its completions.</summary>
public abstract record JobAction;

/// <summary>Create a replica for completion index <paramref name="Ordinal"/> (the reconciler picks its id).</summary>
public sealed record CreateJobReplica(int Ordinal, int Try, ReplicaTemplate Template, string Why) : JobAction;

/// <summary>Ask replica <paramref name="Id"/> to stop (desired = STOP).</summary>
public sealed record StopJobReplica(string Id, string Why) : JobAction;

/// <summary>Delete replica <paramref name="Id"/>'s spec and status keys (it ended long enough ago, or its job is gone).</summary>
public sealed record RemoveJobReplica(string Id, string Why) : JobAction;

/// <summary>An event about the job, in plain words, to record once the status it comes from is stored.</summary>
public sealed record JobEvent(EventType Type, string Reason, string Message);

/// <summary>
/// What the job controller should do now, the status to store (null when the job is gone;
/// the reconciler adds a record per created replica), events to record, and when to look again.
/// </summary>
public sealed record JobPlan(IReadOnlyList<JobAction> Actions, JobStatus? Status, IReadOnlyList<JobEvent> Events, TimeSpan? RequeueAfter);

/// <summary>
/// The job controller's decision, a pure function of the job (spec and last stored status),
/// its replicas and the time: tests call it directly, the reconciler applies it.
/// <para>
/// Every replica a job starts is one <em>try</em> of one completion index (its ordinal,
/// 0 to completions − 1) and gets a record in the job's status, so the counts outlive the
/// replica's keys. A record is final once its replica Succeeded, Failed or was Lost;
/// job replicas are never restarted in place by their agent (ADR 0018), so every retry is a
/// new replica with its own logs and exit code.
/// </para>
/// <para>
/// Counting: an index is done when one of its tries Succeeded (with exit code 0); a failure
/// is a try that Failed or was Lost. Tries the controller stopped itself count neither way.
/// The job is Complete when every index is done, Failed when failures exceed
/// <c>backoffLimit</c>. Until then it runs at most <c>parallelism</c> tries at once, and never
/// more than the indexes still to do. A retry of an index that failed waits
/// <c>JobBackoffBase × 2^(failures − 1)</c>, at most <c>JobBackoffMax</c>, after the job's
/// last failure; an index never tried starts at once.
/// </para>
/// <para>
/// Worked example, completions 3, parallelism 2, backoffLimit 1, base 10s:
/// pass 1 creates tries of indexes 0 and 1. Index 0 fails at t=5s: failures 1 ≤ 1, retry at
/// t=15s; index 2 starts now (a free slot, never tried). Index 1 succeeds. At t=15s index 0
/// starts again. If it fails too, failures 2 &gt; 1: the job is Failed and index 2's replica is
/// stopped. If it succeeds after index 2 did, 3 of 3 completions succeeded: Complete.
/// </para>
/// <para>
/// Retention: a replica that ended is deleted <c>FinishedReplicaRetention</c> after it ended
/// (its node keeps its logs until then); when the job is deleted every replica is stopped
/// and deleted once it ended.
/// </para>
/// </summary>
public sealed class JobPlanner(ControllerOptions options)
{
    public const string CompletedReason = "Completed";
    public const string FailedReason = "BackoffLimitExceeded";

    /// <param name="job">The job with its last stored status, or null when it was deleted.</param>
    /// <param name="replicas">The replicas owned by the job, each with its status merged.</param>
    public JobPlan Plan(Job? job, IReadOnlyList<Replica> replicas, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        var actions = new List<JobAction>();
        var events = new List<JobEvent>();
        DateTimeOffset? wakeAt = null;
        void WakeAt(DateTimeOffset at) => wakeAt = wakeAt is { } w && w <= at ? w : at;

        var live = replicas.OrderBy(r => r.Meta?.Name, StringComparer.Ordinal).ToList();
        if (job is null)
        {
            foreach (var replica in live)
            {
                if (replica.Spec.Desired == DesiredState.Run && !Ended(replica))
                {
                    actions.Add(new StopJobReplica(Id(replica), "its job was deleted"));
                }
                else if (Ended(replica) || string.IsNullOrEmpty(replica.Spec.Node))
                {
                    actions.Add(new RemoveJobReplica(Id(replica), "its job was deleted"));
                }
                else
                {
                    var deadline = StopRequestedAt(replica) + StopGrace(replica) + options.StopTimeoutExtra;
                    if (deadline <= now)
                    {
                        actions.Add(new RemoveJobReplica(Id(replica), "its job was deleted and no report said it stopped"));
                    }
                    else
                    {
                        WakeAt(deadline);
                    }
                }
            }

            return new JobPlan(actions, null, events, Delay(wakeAt, now));
        }

        var spec = job.Spec ?? new JobSpec();
        var prior = job.Status ?? new JobStatus();
        var completions = Math.Max(1, spec.Completions);
        var parallelism = Math.Max(1, spec.Parallelism);
        var status = new JobStatus
        {
            ObservedGeneration = job.Meta?.Generation ?? 0,
            State = prior.State,
            StartedAt = prior.StartedAt,
            CompletedAt = prior.CompletedAt,
        };
        var finishedBefore = prior.State is JobState.Complete or JobState.Failed;

        // Records: the stored ones, updated from the live replicas until final.
        var records = prior.Replicas.Select(r => r.Clone()).ToList();
        var byId = records.ToDictionary(r => r.Replica, StringComparer.Ordinal);
        var newlyFinal = new List<JobReplicaRecord>();
        var liveIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var replica in live)
        {
            liveIds.Add(Id(replica));
            if (!byId.TryGetValue(Id(replica), out var record))
            {
                record = new JobReplicaRecord { Replica = Id(replica), Ordinal = replica.Spec.Ordinal, Phase = Phase.Pending, CreatedAt = replica.Meta?.CreatedAt };
                records.Add(record);
                byId[record.Replica] = record;
            }

            if (IsFinal(record))
            {
                continue;
            }

            record.Stopped |= replica.Spec.Desired != DesiredState.Run;
            record.Node = replica.Spec.Node;
            if (replica.Status is { } observed)
            {
                record.Phase = observed.Phase == Phase.Unspecified ? Phase.Pending : observed.Phase;
                record.ExitCode = observed.ExitCode;
                record.Reason = observed.Reason;
                record.Message = observed.Message;
            }

            if (IsFinal(record))
            {
                record.FinishedAt = replica.Status?.FinishedAt ?? replica.Status?.LastTransitionAt ?? Timestamp.FromDateTimeOffset(now);
                newlyFinal.Add(record);
            }
        }

        foreach (var record in records.Where(r => !IsFinal(r) && !liveIds.Contains(r.Replica)))
        {
            // Its keys vanished before it ended (deleted by hand, or a store restored from a backup).
            record.Phase = Phase.Lost;
            record.Reason = "Deleted";
            record.Message = "its replica disappeared before it ended";
            record.FinishedAt = Timestamp.FromDateTimeOffset(now);
            newlyFinal.Add(record);
        }

        var succeeded = SucceededOrdinals(records, completions);
        var failures = records.Where(IsFailure).OrderBy(r => r.FinishedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue).ToList();
        var active = live.Where(r => r.Spec.Desired == DesiredState.Run && !IsFinal(byId[Id(r)])).ToList();

        if (!finishedBefore)
        {
            foreach (var record in newlyFinal.Where(r => !r.Stopped))
            {
                events.Add(record.Phase == Phase.Succeeded && record.ExitCode == 0
                    ? new JobEvent(EventType.Normal, "CompletionSucceeded", $"replica {record.Replica} (completion {record.Ordinal}) succeeded{On(record)}; {succeeded.Count} of {completions} completions done")
                    : new JobEvent(EventType.Warning, "ReplicaFailed", $"replica {record.Replica} (completion {record.Ordinal}) failed{On(record)}: {What(record)}; {FailureCount(failures.Count, spec.BackoffLimit)}"));
            }
        }

        var ordinalBusy = new HashSet<int>(active.Select(r => r.Spec.Ordinal));
        if (!finishedBefore && succeeded.Count >= completions)
        {
            status.State = JobState.Complete;
            status.CompletedAt = Timestamp.FromDateTimeOffset(now);
            status.Reason = CompletedReason;
            status.Message = $"{completions} of {completions} completions succeeded";
            events.Add(new JobEvent(EventType.Normal, CompletedReason, $"{status.Message}{Took(status)}"));
        }
        else if (!finishedBefore && failures.Count > spec.BackoffLimit)
        {
            status.State = JobState.Failed;
            status.CompletedAt = Timestamp.FromDateTimeOffset(now);
            status.Reason = FailedReason;
            status.Message = FailedMessage(failures, spec.BackoffLimit);
            events.Add(new JobEvent(EventType.Warning, FailedReason, $"job failed: {status.Message}"));
        }
        else if (finishedBefore)
        {
            status.Reason = prior.Reason;
            status.Message = prior.Message;
        }
        else
        {
            // Running: start tries for indexes neither done nor running, within parallelism.
            var slots = Math.Min(parallelism - active.Count, completions - succeeded.Count - active.Count);
            var retryAt = failures.Count == 0 ? (DateTimeOffset?)null : LastFailureAt(failures) + Backoff(failures.Count);
            var waitingRetry = false;
            for (var ordinal = 0; ordinal < completions && slots > 0; ordinal++)
            {
                if (succeeded.Contains(ordinal) || ordinalBusy.Contains(ordinal))
                {
                    continue;
                }

                var tries = records.Count(r => r.Ordinal == ordinal);
                var failedBefore = records.Any(r => r.Ordinal == ordinal && IsFailure(r));
                if (failedBefore && retryAt is { } at && at > now)
                {
                    waitingRetry = true;
                    WakeAt(at);
                    continue;
                }

                actions.Add(new CreateJobReplica(
                    ordinal,
                    tries + 1,
                    spec.Template ?? new ReplicaTemplate(),
                    failedBefore ? $"for completion {ordinal}, retry {failures.Count} of {spec.BackoffLimit}" : $"for completion {ordinal}"));
                ordinalBusy.Add(ordinal);
                slots--;
            }

            var creating = actions.OfType<CreateJobReplica>().Count();
            status.State = records.Count > 0 || creating > 0 ? JobState.Running : JobState.Pending;
            status.StartedAt ??= creating > 0 || records.Count > 0 ? Timestamp.FromDateTimeOffset(now) : null;
            if (waitingRetry && retryAt is { } next)
            {
                status.NextRetryAt = Timestamp.FromDateTimeOffset(next);
            }

            var running = active.Count + creating;
            status.Reason = waitingRetry ? "BackOff" : "";
            status.Message = $"{succeeded.Count} of {completions} completions succeeded, {running} running"
                + (failures.Count > 0 ? $", {FailureCount(failures.Count, spec.BackoffLimit)}" : "")
                + (waitingRetry && retryAt is { } r2 ? $"; next retry in {DurationText.Format(r2 - now)}" : "");
        }

        // A finished job stops what still runs (a failed job's other tries; none when complete).
        if (status.State is JobState.Complete or JobState.Failed)
        {
            var why = status.State == JobState.Complete ? "its job completed" : "its job failed";
            foreach (var replica in active)
            {
                actions.Add(new StopJobReplica(Id(replica), why));
                byId[Id(replica)].Stopped = true;
            }
        }

        // A lost replica is stopped, so a node that comes back does not run it again.
        foreach (var replica in live.Where(r => r.Spec.Desired == DesiredState.Run && byId[Id(r)] is { Phase: Phase.Lost, Stopped: false }))
        {
            actions.Add(new StopJobReplica(Id(replica), "its node was lost"));
        }

        // Retention: an ended replica is deleted some time after it ended; one never placed and stopped at once.
        foreach (var replica in live)
        {
            var record = byId[Id(replica)];
            if (replica.Spec.Desired != DesiredState.Run && string.IsNullOrEmpty(replica.Spec.Node))
            {
                actions.Add(new RemoveJobReplica(Id(replica), "it was stopped before it was placed on a node"));
                continue;
            }

            if (!Ended(replica))
            {
                if (replica.Spec.Desired != DesiredState.Run)
                {
                    var deadline = StopRequestedAt(replica) + StopGrace(replica) + options.StopTimeoutExtra;
                    if (deadline <= now)
                    {
                        actions.Add(new RemoveJobReplica(Id(replica), $"no report that it stopped within {DurationText.Format(deadline - StopRequestedAt(replica))} of the stop request"));
                    }
                    else
                    {
                        WakeAt(deadline);
                    }
                }

                continue;
            }

            var endedAt = record.FinishedAt?.ToDateTimeOffset() ?? replica.Status?.FinishedAt?.ToDateTimeOffset() ?? now;
            var removeAt = endedAt + options.FinishedReplicaRetention;
            if (removeAt <= now)
            {
                actions.Add(new RemoveJobReplica(Id(replica), $"it ended {DurationText.Format(now - endedAt)} ago (kept {DurationText.Format(options.FinishedReplicaRetention)} for its logs)"));
            }
            else
            {
                WakeAt(removeAt);
            }
        }

        status.Active = status.State is JobState.Running or JobState.Pending ? active.Count + actions.OfType<CreateJobReplica>().Count() : 0;
        status.Succeeded = succeeded.Count;
        status.Failed = failures.Count;
        status.Replicas.AddRange(records);
        return new JobPlan(actions, status, events, Delay(wakeAt, now));
    }

    /// <summary>The wait before retrying after <paramref name="failures"/> failures: base × 2^(failures − 1), at most the cap.</summary>
    public TimeSpan Backoff(int failures)
    {
        var delay = options.JobBackoffBase;
        for (var i = 1; i < failures && delay < options.JobBackoffMax; i++)
        {
            delay += delay;
        }

        return delay < options.JobBackoffMax ? delay : options.JobBackoffMax;
    }

    /// <summary>Indexes (within range) with a try that succeeded on its own.</summary>
    public static HashSet<int> SucceededOrdinals(IEnumerable<JobReplicaRecord> records, int completions) =>
        [.. records.Where(r => r.Phase == Phase.Succeeded && r.ExitCode == 0 && !r.Stopped && r.Ordinal >= 0 && r.Ordinal < completions).Select(r => r.Ordinal)];

    /// <summary>A try that failed on its own (not one the controller stopped).</summary>
    public static bool IsFailure(JobReplicaRecord record) =>
        !record.Stopped && (record.Phase is Phase.Failed or Phase.Lost || (record.Phase == Phase.Succeeded && record.ExitCode != 0));

    private static bool IsFinal(JobReplicaRecord record) => record.Phase is Phase.Succeeded or Phase.Failed or Phase.Lost;

    /// <summary>The replica ended: nothing of it runs any more.</summary>
    private static bool Ended(Replica replica) => replica.Status?.Phase is Phase.Succeeded or Phase.Failed or Phase.Lost;

    private static DateTimeOffset LastFailureAt(List<JobReplicaRecord> failures) =>
        failures.Max(r => r.FinishedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue);

    private static string FailedMessage(List<JobReplicaRecord> failures, int backoffLimit)
    {
        var last = failures[^1];
        var ordinals = failures.Select(r => r.Ordinal).Distinct().Count();
        return ordinals == 1
            ? $"replica {last.Replica} failed{On(last)}: {What(last)}; completion {last.Ordinal} failed {Times(failures.Count)} (backoffLimit {backoffLimit})"
            : $"replica {last.Replica} (completion {last.Ordinal}) failed{On(last)}: {What(last)}; {failures.Count} replicas failed (backoffLimit {backoffLimit})";
    }

    private static string FailureCount(int failures, int backoffLimit) =>
        failures > backoffLimit
            ? $"{Plural(failures, "failure")}, more than backoffLimit {backoffLimit}"
            : $"{Plural(failures, "failure")} of {backoffLimit} allowed";

    /// <summary>How a try ended, in plain words: the agent's message, or its exit code.</summary>
    private static string What(JobReplicaRecord record) =>
        record.Message.Length > 0 ? record.Message
        : record.Reason.Length > 0 ? record.Reason
        : string.Create(CultureInfo.InvariantCulture, $"exit code {record.ExitCode}");

    private static string On(JobReplicaRecord record) => record.Node.Length > 0 ? $" on {record.Node}" : "";

    private static string Took(JobStatus status) =>
        status.StartedAt is { } started && status.CompletedAt is { } done
            ? $" in {DurationText.Format(done.ToDateTimeOffset() - started.ToDateTimeOffset())}"
            : "";

    private static string Times(int n) => n == 1 ? "once" : $"{n} times";

    private static string Plural(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";

    private static string Id(Replica replica) => replica.Meta.Name;

    private static DateTimeOffset StopRequestedAt(Replica replica) =>
        replica.Meta?.UpdatedAt?.ToDateTimeOffset() ?? replica.Meta?.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue;

    private static TimeSpan StopGrace(Replica replica) =>
        replica.Spec.Template?.StopGracePeriod is { } grace ? grace.ToTimeSpan() : SpecDefaults.StopGracePeriod;

    private static TimeSpan? Delay(DateTimeOffset? wakeAt, DateTimeOffset now) =>
        wakeAt is { } at ? (at > now ? at - now : TimeSpan.Zero) : null;
}
