using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// Reconciles one job (key: its name): reads the job, its stored status and its replicas at
/// one store revision, asks the <see cref="JobPlanner"/> what to do, and applies it with
/// compare-and-swap writes: creates and stops first, then the status (with a record of each
/// replica created), then deletions, so no outcome is deleted before the status holds it.
/// A lost race throws <see cref="ReconcileConflictException"/>: the queue retries the pass
/// from fresh reads. Events are recorded once the status that explains them is stored.
/// </summary>
public sealed partial class JobReconciler(
    IStateStore store,
    TimeProvider time,
    ControllerOptions options,
    EventRecorder events,
    ILogger<JobReconciler> logger) : IReconciler<string>
{
    public const string OwnerKind = "job";
    private const string Source = "job-controller";
    private readonly JobPlanner _planner = new(options);

    public string Name => "job";

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var jobKey = StoreKeys.Job(key);
        var statusKey = StoreKeys.JobStatus(key);
        var read = await store.GetAsync(jobKey, 0, cancellationToken);
        var revision = read.Revision;
        var job = read.Kv is null ? null : ProtoJson.Decode<Job>(read.Kv.Value, jobKey);
        var jobModRevision = read.Kv?.ModRevision ?? 0;
        var statusRead = await store.GetAsync(statusKey, revision, cancellationToken);
        var statusModRevision = statusRead.Kv?.ModRevision ?? 0;
        if (job is not null)
        {
            job.Meta ??= new ObjectMeta { Name = key };
            job.Spec ??= new JobSpec { Name = key };
            job.Status = statusRead.Kv is null ? null : ProtoJson.Decode<JobStatus>(statusRead.Kv.Value, statusKey);
        }

        var replicas = await ServiceReconciler.ReadOwnedReplicasAsync(store, revision, OwnerKind, key, cancellationToken);
        var now = time.GetUtcNow();
        var plan = _planner.Plan(job, replicas.Select(r => r.Replica).ToList(), now);
        var byId = replicas.ToDictionary(r => r.Replica.Meta.Name, StringComparer.Ordinal);

        var created = new List<JobReplicaRecord>();
        foreach (var action in plan.Actions)
        {
            switch (action)
            {
                case CreateJobReplica create:
                    created.Add(await CreateAsync(key, jobKey, jobModRevision, create, now, cancellationToken));
                    break;
                case StopJobReplica stop:
                    await StopAsync(key, byId[stop.Id], stop, now, cancellationToken);
                    break;
            }
        }

        if (job is not null && plan.Status is { } status)
        {
            status.Replicas.AddRange(created);
            await WriteStatusAsync(key, jobKey, jobModRevision, statusKey, statusModRevision, job.Status, status, cancellationToken);
            foreach (var e in plan.Events)
            {
                await events.RecordAsync(OwnerKind, key, e.Type, e.Reason, e.Message, Source, cancellationToken);
            }
        }

        foreach (var remove in plan.Actions.OfType<RemoveJobReplica>())
        {
            await RemoveAsync(key, byId[remove.Id], remove, cancellationToken);
        }

        LogReconciled(logger, key, plan.Status?.State.ToString() ?? "deleted", plan.Actions.Count);
        return plan.RequeueAfter is { } delay ? ReconcileResult.After(delay) : ReconcileResult.Done;
    }

    private async Task<JobReplicaRecord> CreateAsync(string job, string jobKey, long jobModRevision, CreateJobReplica create, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var spec = new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = OwnerKind, Name = job },
            Revision = 1,
            Template = create.Template.Clone(),
            Desired = DesiredState.Run,
            Generation = 1,
            Ordinal = create.Ordinal,
        };
        var id = await ReplicaWrites.CreateAsync(store, OwnerKind, job, jobKey, jobModRevision, spec, now, cancellationToken);
        LogCreated(logger, job, id, create.Ordinal);
        await events.RecordAsync(OwnerKind, job, EventType.Normal, "ReplicaCreated", $"Created replica {id} {create.Why}", Source, cancellationToken);
        return new JobReplicaRecord { Replica = id, Ordinal = create.Ordinal, Phase = Phase.Pending, CreatedAt = Timestamp.FromDateTimeOffset(now) };
    }

    private async Task StopAsync(string job, ServiceReconciler.StoredReplica stored, StopJobReplica stop, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var replica = stored.Replica.Clone();
        replica.Status = null;
        replica.Meta.ResourceVersion = 0;
        replica.Spec.Desired = DesiredState.Stop;
        replica.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(now);
        var key = StoreKeys.Replica(stop.Id);
        var result = await store.TxnAsync(new Txn([Compare.ModRevision(key, stored.SpecModRevision)], [TxnOp.Put(key, ProtoJson.Encode(replica))], []), cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"replica {stop.Id} changed");
        }

        LogStopping(logger, job, stop.Id, stop.Why);
        await events.RecordAsync(OwnerKind, job, EventType.Normal, "ReplicaStopping", $"Stopping replica {stop.Id}: {stop.Why}", Source, cancellationToken);
    }

    private async Task RemoveAsync(string job, ServiceReconciler.StoredReplica stored, RemoveJobReplica remove, CancellationToken cancellationToken)
    {
        await ReplicaWrites.DeleteAsync(store, stored, cancellationToken);
        LogRemoved(logger, job, remove.Id, remove.Why);
        await events.RecordAsync(OwnerKind, job, EventType.Normal, "ReplicaDeleted", $"Deleted replica {remove.Id}: {remove.Why}", Source, cancellationToken);
    }

    private async Task WriteStatusAsync(string job, string jobKey, long jobModRevision, string statusKey, long statusModRevision, JobStatus? current, JobStatus status, CancellationToken cancellationToken)
    {
        if (current is not null && current.Equals(status))
        {
            return;
        }

        // Guarded on the spec too: a status computed from a deleted or changed spec is not written.
        var result = await store.TxnAsync(
            new Txn(
                [Compare.ModRevision(jobKey, jobModRevision), Compare.ModRevision(statusKey, statusModRevision)],
                [TxnOp.Put(statusKey, ProtoJson.Encode(status))],
                []),
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"job {job} or its status changed");
        }
    }

    [LoggerMessage(EventId = 1330, Level = LogLevel.Debug, Message = "Job {Job}: {State}, {Actions} actions")]
    private static partial void LogReconciled(ILogger logger, string job, string state, int actions);

    [LoggerMessage(EventId = 1331, Level = LogLevel.Information, Message = "Job {Job}: created replica {Replica} for completion {Ordinal}")]
    private static partial void LogCreated(ILogger logger, string job, string replica, int ordinal);

    [LoggerMessage(EventId = 1332, Level = LogLevel.Information, Message = "Job {Job}: stopping replica {Replica}: {Why}")]
    private static partial void LogStopping(ILogger logger, string job, string replica, string why);

    [LoggerMessage(EventId = 1333, Level = LogLevel.Information, Message = "Job {Job}: deleted replica {Replica}: {Why}")]
    private static partial void LogRemoved(ILogger logger, string job, string replica, string why);
}
