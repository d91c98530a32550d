using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// <c>orc plan</c>: a dry run of an apply. For each object it says what apply would report
/// (created, configured with the changes, unchanged) and what would happen to its replicas once
/// the controllers have caught up: which existing ones are kept, which a rolling update replaces,
/// which a scale-down removes (in the service controller's order), and how many are created.
/// <para>
/// New replicas are then placed one after another with the <see cref="Scheduler"/> on a copy of
/// the current snapshot, each binding assumed before the next decision, as the placement loop
/// does. Replicas that go away give their room back first, so the plan shows where things end
/// up, not the extra room a surge needs on the way (<see cref="PlanResponse.Assumption"/> says so).
/// Nothing is written to the store.
/// </para>
/// </summary>
public sealed class ApplyPlanner(IStateStore store, SpecApplier applier, ClusterSnapshotReader snapshots, Scheduler scheduler, TimeProvider time)
{
    public const string PlacedInOrder = "New replicas are placed one after another on a copy of the cluster as it is now, each taking its room before the next is placed.";

    public const string RoomGivenBack = "Replicas that are replaced or removed are assumed to have given their room back first.";

    public const string SurgeNeedsRoom = "A rolling update starts new replicas before old ones stop (up to maxSurge at a time), so it needs that much more room while it runs.";

    /// <exception cref="InvalidObjectRequestException">Two documents name the same object.</exception>
    public async Task<PlanResponse> PlanAsync(IReadOnlyList<SpecDocument> documents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var applied = await applier.ApplyAsync(documents, dryRun: true, cancellationToken);
        var owners = documents.Select(d => d.Kind + "/" + d.Name).ToHashSet(StringComparer.Ordinal);
        var replicas = await ServiceReconciler.ReadReplicasAsync(store, 0, r => owners.Contains(ClusterSnapshot.OwnerKey(r.Spec.Owner)), cancellationToken);
        var byOwner = replicas
            .Select(r => r.Replica)
            .GroupBy(r => ClusterSnapshot.OwnerKey(r.Spec.Owner), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<Replica>)[.. g], StringComparer.Ordinal);
        return await snapshots.ReadAsync(snapshot => Plan(scheduler, documents, applied.Results, byOwner, snapshot, time.GetUtcNow()), cancellationToken);
    }

    /// <summary>The plan of <paramref name="documents"/>, whose dry-run apply gave <paramref name="results"/> (one per document, in order), on <paramref name="snapshot"/>, which it changes: give it a copy.</summary>
    /// <param name="replicasByOwner">Every stored replica with its status, by owner key (<c>service/web</c>).</param>
    public static PlanResponse Plan(
        Scheduler scheduler,
        IReadOnlyList<SpecDocument> documents,
        IReadOnlyList<ApplyResult> results,
        IReadOnlyDictionary<string, IReadOnlyList<Replica>> replicasByOwner,
        ClusterSnapshot snapshot,
        DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(replicasByOwner);
        ArgumentNullException.ThrowIfNull(snapshot);
        if (results.Count != documents.Count)
        {
            throw new ArgumentException($"{results.Count} apply results for {documents.Count} documents", nameof(results));
        }

        var plans = new List<(ObjectPlan Plan, OwnerRef Owner, ReplicaTemplate Template)>(documents.Count);
        for (var i = 0; i < documents.Count; i++)
        {
            var document = documents[i];
            var result = results[i];
            if (document.Service is { } service)
            {
                var owner = new OwnerRef { Kind = ServiceReconciler.OwnerKind, Name = service.Name };
                var existing = replicasByOwner.GetValueOrDefault(ClusterSnapshot.OwnerKey(owner)) ?? [];
                plans.Add((PlanService(service, result, existing), owner, service.Template ?? new ReplicaTemplate()));
            }
            else if (document.Job is { } job)
            {
                var owner = new OwnerRef { Kind = ObjectKindInfo.Job.Singular, Name = job.Name };
                var existing = replicasByOwner.GetValueOrDefault(ClusterSnapshot.OwnerKey(owner)) ?? [];
                plans.Add((PlanJob(job, result, existing), owner, job.Template ?? new ReplicaTemplate()));
            }
        }

        // Room given back first, then every new replica placed in document order.
        foreach (var (plan, _, _) in plans)
        {
            foreach (var gone in plan.Replaced.Concat(plan.Removed))
            {
                snapshot.RemoveReplica(gone.Id);
            }
        }

        var assumption = new List<string> { PlacedInOrder };
        if (plans.Any(p => p.Plan.Replaced.Count > 0 || p.Plan.Removed.Count > 0))
        {
            assumption.Add(RoomGivenBack);
        }

        if (plans.Any(p => p.Plan.Replaced.Count > 0))
        {
            assumption.Add(SurgeNeedsRoom);
        }

        var response = new PlanResponse { Assumption = string.Join(" ", assumption), Nodes = snapshot.Nodes.Count };
        foreach (var (plan, owner, template) in plans)
        {
            var ownerKey = ClusterSnapshot.OwnerKey(owner);
            foreach (var replica in plan.Created)
            {
                // Not a real id ('#' is in no replica name): it keys the assumed binding and the tie-break.
                var id = $"{ownerKey}#{replica.Ordinal}";
                var decision = scheduler.Place(new PlacementRequest(id, owner, template), snapshot, now);
                replica.Placement = decision.Explanation;
                if (decision.Node is { } node)
                {
                    replica.Node = node;
                    snapshot.SetAllocation(id, new ReplicaAllocation(node, ownerKey, template.Resources?.CpuMillis ?? 0, template.Resources?.MemoryBytes ?? 0, [.. decision.HostPorts.Values], true, true));
                }
                else
                {
                    response.Unschedulable++;
                }
            }

            response.Objects.Add(plan);
        }

        return response;
    }

    /// <summary>
    /// Where the service controller would take the service: replicas of the service's revision
    /// after the apply are kept up to the desired count (the surplus removed in its retire order),
    /// every active replica of another revision is replaced, and new ones make up the count.
    /// </summary>
    private static ObjectPlan PlanService(ServiceSpec spec, ApplyResult result, IReadOnlyList<Replica> replicas)
    {
        var desired = Math.Max(0, spec.Replicas);
        var revision = result.Revision;
        var active = replicas.Where(r => r.Spec.Desired == DesiredState.Run).ToList();
        var current = active.Where(r => r.Spec.Revision == revision).ToList();
        var removed = ServicePlanner.RetireOrder(current).Take(Math.Max(0, current.Count - desired)).ToList();
        var kept = current.Except(removed).OrderBy(r => r.Meta.Name, StringComparer.Ordinal).ToList();
        var replaced = active.Where(r => r.Spec.Revision != revision).OrderBy(r => r.Meta.Name, StringComparer.Ordinal).ToList();
        var plan = new ObjectPlan { Result = result, Replicas = desired, Update = spec.Update };
        plan.Kept.AddRange(kept.Select(Existing));
        plan.Replaced.AddRange(replaced.Select(Existing));
        plan.Removed.AddRange(removed.Select(Existing));
        for (var i = 1; i <= desired - kept.Count; i++)
        {
            plan.Created.Add(new PlannedReplica { Ordinal = i, Revision = revision });
        }

        if (replaced.Count > 0)
        {
            (plan.MaxSurge, plan.MaxUnavailable) = RollingLimits(spec.Update, desired);
        }

        return plan;
    }

    /// <summary>A new job starts its first <c>parallelism</c> replicas (at most <c>completions</c>); an existing one keeps its replicas.</summary>
    private static ObjectPlan PlanJob(JobSpec spec, ApplyResult result, IReadOnlyList<Replica> replicas)
    {
        var plan = new ObjectPlan { Result = result };
        if (result.Outcome == ApplyOutcome.Created)
        {
            plan.Replicas = Math.Min(Math.Max(1, spec.Parallelism), Math.Max(1, spec.Completions));
            for (var i = 1; i <= plan.Replicas; i++)
            {
                plan.Created.Add(new PlannedReplica { Ordinal = i });
            }

            return plan;
        }

        plan.Kept.AddRange(replicas.Where(r => r.Spec.Desired == DesiredState.Run).OrderBy(r => r.Meta.Name, StringComparer.Ordinal).Select(Existing));
        plan.Replicas = plan.Kept.Count;
        return plan;
    }

    /// <summary>
    /// maxSurge and maxUnavailable as replica counts, the way Kubernetes works them out: a
    /// percentage of the desired replicas, surge rounded up and unavailable rounded down, and
    /// never both 0 (then one may be unavailable). 25% of 3 replicas: surge 1, unavailable 0.
    /// </summary>
    public static (int MaxSurge, int MaxUnavailable) RollingLimits(UpdateStrategy? update, int desired)
    {
        var surge = Resolve(update?.MaxSurge, desired, roundUp: true, SpecDefaults.MaxSurge);
        var unavailable = Resolve(update?.MaxUnavailable, desired, roundUp: false, SpecDefaults.MaxUnavailable);
        return surge == 0 && unavailable == 0 ? (0, 1) : (surge, unavailable);
    }

    private static int Resolve(IntOrPercent? value, int desired, bool roundUp, int fallback)
    {
        if (value is null)
        {
            return fallback;
        }

        if (!value.Percent)
        {
            return Math.Max(0, value.Value);
        }

        var exact = (double)value.Value * desired / 100;
        return Math.Max(0, (int)(roundUp ? Math.Ceiling(exact) : Math.Floor(exact)));
    }

    private static PlannedReplica Existing(Replica replica) => new()
    {
        Id = replica.Meta.Name,
        Revision = replica.Spec.Revision,
        Node = replica.Spec.Node ?? "",
        Phase = replica.Status?.Phase ?? Phase.Unspecified,
    };
}
