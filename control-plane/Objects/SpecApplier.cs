using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>What an apply did (or, for a dry run, would do).</summary>
/// <param name="Revision">Store revision of the transaction that stored the change; 0 if nothing was written.</param>
public sealed record ApplyPlanResult(IReadOnlyList<ApplyResult> Results, long Revision);

/// <summary>
/// Stores the documents of one spec file, all or nothing. For each document it reads what
/// is stored and decides: created (generation 1, revision 1), unchanged (no write at all),
/// or configured (generation + 1; a new template revision only when the template's hash
/// changed). Every document is written in one store transaction guarded by the mod
/// revision of every key the decision read; if another writer got there first, the
/// transaction writes nothing and the whole decision is made again from fresh reads, at
/// most <see cref="MaxAttempts"/> times.
/// </summary>
public sealed partial class SpecApplier(IStateStore store, TimeProvider time, ILogger<SpecApplier> logger)
{
    public const int MaxAttempts = 5;

    /// <exception cref="InvalidObjectRequestException">Two documents name the same object, or a service publishes a port another stored service publishes.</exception>
    /// <exception cref="ObjectConflictException">Other writers won every attempt; nothing was written.</exception>
    public async Task<ApplyPlanResult> ApplyAsync(IReadOnlyList<SpecDocument> documents, bool dryRun, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var duplicate = documents.GroupBy(d => (d.Kind, d.Name)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            var lines = string.Join(" and ", duplicate.Select(d => d.Line.ToString(CultureInfo.InvariantCulture)));
            throw new InvalidObjectRequestException($"{duplicate.Key.Kind} \"{duplicate.Key.Name}\" appears more than once (documents at lines {lines}); keep one document per object");
        }

        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var plan = new Plan();
            await CheckPublishedPortsAsync(documents, cancellationToken);
            foreach (var document in documents)
            {
                if (document.Service is { } service)
                {
                    await PlanServiceAsync(service, plan, cancellationToken);
                }
                else if (document.Job is { } job)
                {
                    await PlanJobAsync(document, job, plan, cancellationToken);
                }
            }

            if (dryRun || plan.Ops.Count == 0)
            {
                return new ApplyPlanResult(plan.Results, 0);
            }

            var result = await store.TxnAsync(new Txn(plan.Compares, plan.Ops, []), cancellationToken);
            if (result.Succeeded)
            {
                return new ApplyPlanResult(plan.Results, result.Revision);
            }

            LogConflict(logger, attempt, MaxAttempts);
        }

        throw new ObjectConflictException($"the cluster kept changing while this apply was being stored ({MaxAttempts} attempts lost to other writers); nothing was changed, run the apply again");
    }

    private async Task PlanServiceAsync(ServiceSpec spec, Plan plan, CancellationToken cancellationToken)
    {
        var key = StoreKeys.Service(spec.Name);
        var stored = await store.GetAsync(key, 0, cancellationToken);
        var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        var hash = TemplateHash.Compute(spec.Template ?? new ReplicaTemplate());

        if (stored.Kv is null)
        {
            plan.Compares.Add(Compare.Absent(key));
            var service = new V1.Service
            {
                Meta = new ObjectMeta { Name = spec.Name, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = now, UpdatedAt = now },
                Spec = spec.Clone(),
                Revision = 1,
            };
            var first = StoreKeys.ServiceRevision(spec.Name, 1);
            plan.Compares.Add(Compare.Absent(first));
            plan.Ops.Add(TxnOp.Put(key, ProtoJson.Encode(service)));
            plan.Ops.Add(TxnOp.Put(first, ProtoJson.Encode(NewRevision(spec, 1, hash, now, 1, "created"))));
            plan.Results.Add(Result(ObjectKind.Service, spec.Name, ApplyOutcome.Created, 1, 1, []));
            return;
        }

        plan.Compares.Add(Compare.ModRevision(key, stored.Kv.ModRevision));
        var existing = ProtoJson.Decode<V1.Service>(stored.Kv.Value, key);
        existing.Meta ??= new ObjectMeta { Name = spec.Name };
        existing.Spec ??= new ServiceSpec { Name = spec.Name };

        // `paused` is set by orc rollout pause/resume, never by a spec file: apply keeps it.
        spec = spec.Clone();
        spec.Paused = existing.Spec.Paused;
        if (existing.Spec.Equals(spec))
        {
            plan.Results.Add(Result(ObjectKind.Service, spec.Name, ApplyOutcome.Unchanged, existing.Revision, existing.Meta.Generation, []));
            return;
        }

        var changes = SpecDiff.Describe(existing.Spec, spec);
        var updated = existing.Clone();
        updated.Spec = spec.Clone();
        updated.Status = null;
        updated.Meta.ResourceVersion = 0;
        updated.Meta.Generation++;
        updated.Meta.UpdatedAt = now;

        if (TemplateHash.Compute(existing.Spec.Template ?? new ReplicaTemplate()) != hash)
        {
            var latest = await LatestRevisionAsync(spec.Name, cancellationToken);
            var next = Math.Max(latest, existing.Revision) + 1;
            var revisionKey = StoreKeys.ServiceRevision(spec.Name, next);
            var templateChanges = changes.Where(c => c.StartsWith("template: ", StringComparison.Ordinal)).Select(c => c["template: ".Length..]);
            var cause = "apply: " + string.Join("; ", templateChanges);
            plan.Compares.Add(Compare.Absent(revisionKey));
            plan.Ops.Add(TxnOp.Put(revisionKey, ProtoJson.Encode(NewRevision(spec, next, hash, now, updated.Meta.Generation, cause))));
            updated.Revision = next;
        }

        plan.Ops.Add(TxnOp.Put(key, ProtoJson.Encode(updated)));
        plan.Results.Add(Result(ObjectKind.Service, spec.Name, ApplyOutcome.Configured, updated.Revision, updated.Meta.Generation, changes));
    }

    private async Task PlanJobAsync(SpecDocument document, JobSpec spec, Plan plan, CancellationToken cancellationToken)
    {
        var key = StoreKeys.Job(spec.Name);
        var stored = await store.GetAsync(key, 0, cancellationToken);
        var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
        if (stored.Kv is null)
        {
            plan.Compares.Add(Compare.Absent(key));
            var job = new V1.Job
            {
                Meta = new ObjectMeta { Name = spec.Name, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = now, UpdatedAt = now },
                Spec = spec.Clone(),
            };
            plan.Ops.Add(TxnOp.Put(key, ProtoJson.Encode(job)));
            plan.Results.Add(Result(ObjectKind.Job, spec.Name, ApplyOutcome.Created, 0, 1, []));
            return;
        }

        plan.Compares.Add(Compare.ModRevision(key, stored.Kv.ModRevision));
        var existing = ProtoJson.Decode<V1.Job>(stored.Kv.Value, key);
        existing.Meta ??= new ObjectMeta { Name = spec.Name };
        existing.Spec ??= new JobSpec { Name = spec.Name };
        if (existing.Spec.Equals(spec))
        {
            plan.Results.Add(Result(ObjectKind.Job, spec.Name, ApplyOutcome.Unchanged, 0, existing.Meta.Generation, []));
            return;
        }

        // A job's replicas are tries of one template towards a count: changing either midway
        // would mix results of two different jobs (Kubernetes makes both immutable too).
        var immutable = SpecDiff.Describe(existing.Spec, spec).Where(c => c.StartsWith("template: ", StringComparison.Ordinal) || c.StartsWith("completions ", StringComparison.Ordinal)).ToList();
        if (immutable.Count > 0)
        {
            throw new InvalidObjectRequestException(
                $"job \"{spec.Name}\" cannot change its {string.Join(", ", immutable)}: a job's template and completions are fixed once it exists (parallelism and backoffLimit may change); " +
                $"delete it first (orc delete job {spec.Name}) and apply again, or give the new job another name",
                document);
        }

        var updated = existing.Clone();
        updated.Spec = spec.Clone();
        updated.Status = null;
        updated.Meta.ResourceVersion = 0;
        updated.Meta.Generation++;
        updated.Meta.UpdatedAt = now;
        plan.Ops.Add(TxnOp.Put(key, ProtoJson.Encode(updated)));
        plan.Results.Add(Result(ObjectKind.Job, spec.Name, ApplyOutcome.Configured, 0, updated.Meta.Generation, SpecDiff.Describe(existing.Spec, spec)));
    }

    /// <summary>
    /// Refuses a service that publishes a port another stored service already publishes: the
    /// routing mesh listens on a published port on every node, for one service only. (The spec
    /// parser catches a clash between the documents of one request.) A port the service itself
    /// published before is not checked again, so re-applying an unchanged spec never fails here.
    /// The check reads the services once per attempt and does not guard the transaction on them
    /// (that would be one compare per service, past etcd's limit in a large cluster): two applies
    /// taking one port at the same instant can both pass.
    /// </summary>
    private async Task CheckPublishedPortsAsync(IReadOnlyList<SpecDocument> documents, CancellationToken cancellationToken)
    {
        var applied = documents.Where(d => d.Service is { } s && s.Template?.Ports.Any(p => p.Published > 0) == true).ToList();
        if (applied.Count == 0)
        {
            return;
        }

        var stored = await store.ListAsync(StoreKeys.ServicesPrefix, 0, 0, cancellationToken);
        var names = documents.Where(d => d.Service is not null).Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var publishedBy = new Dictionary<int, string>();
        var ownPorts = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        foreach (var kv in stored.Items)
        {
            if (!StoreKeys.TryNameOf(kv.Key, StoreKeys.ServicesPrefix, out var name))
            {
                continue;
            }

            V1.Service service;
            try
            {
                service = ProtoJson.Decode<V1.Service>(kv.Value, kv.Key);
            }
            catch (InvalidStoredObjectException)
            {
                continue;
            }

            var ports = service.Spec?.Template?.Ports.Where(p => p.Published > 0).Select(p => p.Published).ToHashSet() ?? [];
            if (names.Contains(name))
            {
                ownPorts[name] = ports;
                continue;
            }

            foreach (var port in ports)
            {
                publishedBy.TryAdd(port, name);
            }
        }

        var taken = publishedBy.Keys.Concat(applied.SelectMany(d => d.Service!.Template.Ports.Select(p => p.Published))).ToHashSet();
        foreach (var document in applied)
        {
            var ports = document.Service!.Template.Ports;
            for (var i = 0; i < ports.Count; i++)
            {
                var port = ports[i].Published;
                if (port <= 0 || ownPorts.GetValueOrDefault(document.Name)?.Contains(port) == true || !publishedBy.TryGetValue(port, out var other))
                {
                    continue;
                }

                var free = Enumerable.Range(port + 1, Math.Max(0, 65535 - port)).Concat(Enumerable.Range(1024, Math.Max(0, port - 1024))).Cast<int?>().FirstOrDefault(p => !taken.Contains(p!.Value));
                var suggestion = free is { } f ? $"use a different port, such as {f.ToString(CultureInfo.InvariantCulture)}" : "use a different port";
                throw new InvalidObjectRequestException(
                    $"ports[{i.ToString(CultureInfo.InvariantCulture)}].published: {port.ToString(CultureInfo.InvariantCulture)} is already published by the service \"{other}\"; " +
                    $"every node listens on a published port for one service only, so {suggestion} (or change or delete service \"{other}\" first)",
                    document);
            }
        }
    }

    /// <summary>The highest revision number in a service's history, 0 if it has none.</summary>
    private async Task<long> LatestRevisionAsync(string service, CancellationToken cancellationToken)
    {
        var prefix = StoreKeys.ServiceRevisions(service);
        var history = await store.ListAsync(prefix, 0, 0, cancellationToken);
        return history.Items.Count == 0
            ? 0
            : history.Items.Max(kv => long.TryParse(StoreKeys.NameOf(kv.Key, prefix), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0);
    }

    private static ServiceRevision NewRevision(ServiceSpec spec, long revision, string hash, Timestamp now, long generation, string cause) => new()
    {
        Service = spec.Name,
        Revision = revision,
        Template = spec.Template?.Clone() ?? new ReplicaTemplate(),
        TemplateHash = hash,
        CreatedAt = now,
        Generation = generation,
        Cause = cause,
    };

    private static ApplyResult Result(ObjectKind kind, string name, ApplyOutcome outcome, long revision, long generation, IEnumerable<string> changes)
    {
        var result = new ApplyResult { Kind = kind, Name = name, Outcome = outcome, Revision = revision, Generation = generation };
        result.Changes.AddRange(changes);
        return result;
    }

    private sealed class Plan
    {
        public List<Compare> Compares { get; } = [];

        public List<TxnOp> Ops { get; } = [];

        public List<ApplyResult> Results { get; } = [];
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Apply lost a compare-and-swap race (attempt {Attempt} of {MaxAttempts}); reading again")]
    private static partial void LogConflict(ILogger logger, int attempt, int maxAttempts);
}
