using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>The outcome of <see cref="RolloutCommands.UndoAsync"/>.</summary>
public sealed record UndoOutcome(long PreviousRevision, long Revision, long Generation);

/// <summary>The outcome of a pause or resume: whether anything changed, and the service's generation after it.</summary>
public sealed record PauseOutcome(bool Changed, long Generation);

/// <summary>
/// <c>orc rollout undo|pause|resume</c>: writes to a service's spec, each a compare-and-swap
/// on the spec key (and, for undo, a check that the target revision is in the history),
/// retried from fresh reads when another writer got there first. The service controller
/// does the rest (docs/adr/0017-rollouts-and-rollback.md).
/// </summary>
public sealed class RolloutCommands(IStateStore store, TimeProvider time)
{
    public const int MaxAttempts = 5;

    /// <summary>
    /// Points the service at an earlier revision of its template: <paramref name="toRevision"/>,
    /// or (0) the newest revision in the history other than the current one. The revision
    /// number is reused (no new history entry); the generation goes up.
    /// </summary>
    /// <exception cref="InvalidObjectRequestException">The revision is negative, not in the history, or already current.</exception>
    /// <exception cref="ObjectNotFoundException">No such service.</exception>
    public async Task<UndoOutcome> UndoAsync(string service, long toRevision, CancellationToken cancellationToken = default)
    {
        ObjectKindInfo.Service.ValidateName(service);
        if (toRevision < 0)
        {
            throw new InvalidObjectRequestException($"--to-revision must be a revision number from 'orc rollout history {service}', not {toRevision}; leave it out to go back to the previous revision");
        }

        var key = StoreKeys.Service(service);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var (stored, current) = await ReadAsync(service, cancellationToken);
            var history = await store.ListAsync(StoreKeys.ServiceRevisions(service), stored.Revision, 0, cancellationToken);
            var revisions = history.Items.Select(kv => (Kv: kv, Revision: ProtoJson.Decode<ServiceRevision>(kv.Value, kv.Key))).OrderBy(r => r.Revision.Revision).ToList();
            var listed = string.Join(", ", revisions.Select(r => r.Revision.Revision.ToString(CultureInfo.InvariantCulture)));
            (KeyValue Kv, ServiceRevision Revision) target;
            if (toRevision == 0)
            {
                var others = revisions.Where(r => r.Revision.Revision != current.Revision).ToList();
                if (others.Count == 0)
                {
                    throw new InvalidObjectRequestException($"service \"{service}\" has no revision to go back to (its history holds only revision {current.Revision}); apply a changed spec instead");
                }

                target = others[^1];
            }
            else
            {
                var found = revisions.Where(r => r.Revision.Revision == toRevision).ToList();
                if (found.Count == 0)
                {
                    throw new InvalidObjectRequestException($"service \"{service}\" has no revision {toRevision}; its history holds revisions {listed} ('orc rollout history {service}')");
                }

                target = found[0];
                if (toRevision == current.Revision)
                {
                    throw new InvalidObjectRequestException($"service \"{service}\" is already at revision {toRevision}; pick another revision from 'orc rollout history {service}'");
                }
            }

            var previous = current.Revision;
            current.Spec.Template = target.Revision.Template?.Clone() ?? new ReplicaTemplate();
            current.Revision = target.Revision.Revision;
            Touch(current);
            var result = await store.TxnAsync(
                new Txn(
                    [Compare.ModRevision(key, stored.Kv!.ModRevision), Compare.ModRevision(target.Kv.Key, target.Kv.ModRevision)],
                    [TxnOp.Put(key, ProtoJson.Encode(current))],
                    []),
                cancellationToken);
            if (result.Succeeded)
            {
                return new UndoOutcome(previous, current.Revision, current.Meta.Generation);
            }
        }

        throw Conflict($"undo the rollout of service \"{service}\"");
    }

    /// <summary>Sets <c>spec.paused</c>; pausing a paused service writes nothing.</summary>
    public Task<PauseOutcome> PauseAsync(string service, CancellationToken cancellationToken = default) =>
        SetPausedAsync(service, paused: true, cancellationToken);

    /// <summary>
    /// Clears <c>spec.paused</c>. A rollout halted by a failure (<c>onFailure: pause</c>) is
    /// resumed too: the generation goes up, so the controller tries again with a fresh
    /// progress deadline. Resuming a service that is neither writes nothing.
    /// </summary>
    public Task<PauseOutcome> ResumeAsync(string service, CancellationToken cancellationToken = default) =>
        SetPausedAsync(service, paused: false, cancellationToken);

    private async Task<PauseOutcome> SetPausedAsync(string service, bool paused, CancellationToken cancellationToken)
    {
        ObjectKindInfo.Service.ValidateName(service);
        var key = StoreKeys.Service(service);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var (stored, current) = await ReadAsync(service, cancellationToken);
            var status = await store.GetAsync(StoreKeys.ServiceStatus(service), stored.Revision, cancellationToken);
            var halted = !paused && status.Kv is not null
                && ProtoJson.Decode<ServiceStatus>(status.Kv.Value, status.Kv.Key) is { Rollout: RolloutState.Failed } s
                && s.ObservedGeneration == current.Meta.Generation;
            if (current.Spec.Paused == paused && !halted)
            {
                return new PauseOutcome(false, current.Meta.Generation);
            }

            current.Spec.Paused = paused;
            Touch(current);
            var result = await store.TxnAsync(new Txn([Compare.ModRevision(key, stored.Kv!.ModRevision)], [TxnOp.Put(key, ProtoJson.Encode(current))], []), cancellationToken);
            if (result.Succeeded)
            {
                return new PauseOutcome(true, current.Meta.Generation);
            }
        }

        throw Conflict($"{(paused ? "pause" : "resume")} the rollout of service \"{service}\"");
    }

    private async Task<(GetResult Stored, V1.Service Service)> ReadAsync(string service, CancellationToken cancellationToken)
    {
        var key = StoreKeys.Service(service);
        var stored = await store.GetAsync(key, 0, cancellationToken);
        if (stored.Kv is null)
        {
            throw new ObjectNotFoundException("service", service);
        }

        var current = ProtoJson.Decode<V1.Service>(stored.Kv.Value, key);
        current.Meta ??= new ObjectMeta { Name = service };
        current.Spec ??= new ServiceSpec { Name = service };
        return (stored, current);
    }

    private void Touch(V1.Service service)
    {
        service.Meta.Generation++;
        service.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        service.Meta.ResourceVersion = 0;
        service.Status = null;
    }

    private static ObjectConflictException Conflict(string what) =>
        new($"could not {what}: other writers kept changing it ({MaxAttempts} attempts); nothing was changed, try again");
}
