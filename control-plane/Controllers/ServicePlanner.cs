using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>One change the service controller makes to reach a service's desired replicas.</summary>
public abstract record ServiceAction;

/// <summary>Create a replica of <paramref name="Revision"/> (the reconciler picks its id); <paramref name="Why"/> ends the event message.</summary>
public sealed record CreateReplica(long Revision, ReplicaTemplate Template, string Why) : ServiceAction;

/// <summary>Ask replica <paramref name="Id"/> to stop (desired = STOP); its agent stops it.</summary>
public sealed record StopReplica(string Id, string Why) : ServiceAction;

/// <summary>Delete replica <paramref name="Id"/>'s spec and status keys: it ended, or nobody reported on it in time.</summary>
public sealed record RemoveReplica(string Id, string Why) : ServiceAction;

/// <summary>What the service controller should do now, the status to store (null when the service is gone), and when to look again.</summary>
public sealed record ServicePlan(IReadOnlyList<ServiceAction> Actions, ServiceStatus? Status, TimeSpan? RequeueAfter);

/// <summary>
/// The service controller's decision, a pure function of the service, its replicas and the
/// time: tests call it directly, the reconciler applies its actions with CAS writes.
/// <para>
/// Replicas are <em>active</em> (desired RUN) or <em>retiring</em> (desired STOP or DRAIN).
/// Retiring replicas are removed once they ended (Succeeded, Failed, Lost), were never
/// placed, or after their stop grace period plus <see cref="ControllerOptions.StopTimeoutExtra"/>.
/// </para>
/// <para>
/// Active replicas of the service's current revision are kept at <c>spec.replicas</c>. Scaling
/// down stops unplaced replicas first, then not-ready ones, then the newest. A template
/// change replaces old-revision replicas with a surge of one and none unavailable:
/// old replicas may only be as many as <c>replicas − available new</c>, and active replicas
/// at most <c>replicas + 1</c>. A new replica is available when Ready, or when no agent
/// reported on it for <see cref="ControllerOptions.UnreportedReadyTimeout"/>.
/// </para>
/// <para>
/// Worked example, replicas 3, template changed (old o1..o3, no new):
/// pass 1: allowed old = 3 − 0 = 3, active 3 &lt; 4, so create n1.
/// n1 not ready: nothing to do (allowed old 3, active 4).
/// n1 Ready: allowed old = 3 − 1 = 2, so stop one old (active 3), and create n2 (active 4).
/// ... until n3 is Ready: allowed old 0, the last old replica stops.
/// </para>
/// </summary>
public sealed class ServicePlanner(ControllerOptions options)
{
    /// <param name="service">The service, or null when it was deleted (every replica retires).</param>
    /// <param name="replicas">The replicas owned by the service, each with its status merged.</param>
    public ServicePlan Plan(Service? service, IReadOnlyList<Replica> replicas, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        var actions = new List<ServiceAction>();
        DateTimeOffset? wakeAt = null;
        void WakeAt(DateTimeOffset at) => wakeAt = wakeAt is { } w && w <= at ? w : at;

        var active = new List<Replica>();
        foreach (var replica in replicas.OrderBy(r => r.Meta?.Name, StringComparer.Ordinal))
        {
            if (replica.Spec.Desired == DesiredState.Run)
            {
                active.Add(replica);
                continue;
            }

            if (Ended(replica) is { } why)
            {
                actions.Add(new RemoveReplica(Id(replica), why));
                continue;
            }

            var deadline = StopRequestedAt(replica) + StopGrace(replica) + options.StopTimeoutExtra;
            if (deadline <= now)
            {
                actions.Add(new RemoveReplica(Id(replica), $"no report that it stopped within {DurationText.Format(deadline - StopRequestedAt(replica))} of the stop request"));
            }
            else
            {
                WakeAt(deadline);
            }
        }

        if (service is null)
        {
            foreach (var replica in active)
            {
                actions.Add(new StopReplica(Id(replica), "its service was deleted"));
            }

            return new ServicePlan(actions, null, Delay(wakeAt, now));
        }

        var desired = Math.Max(0, service.Spec.Replicas);
        var revision = service.Revision;
        var current = active.Where(r => r.Spec.Revision == revision).ToList();
        var old = active.Where(r => r.Spec.Revision != revision).ToList();

        // Surplus of the current revision: unplaced first, then not ready, then newest.
        var stopped = new HashSet<string>(StringComparer.Ordinal);
        var surplus = current.Count - desired;
        foreach (var replica in RetireOrder(current).Take(Math.Max(0, surplus)))
        {
            actions.Add(new StopReplica(Id(replica), $"scaled down to {Plural(desired, "replica")}"));
            stopped.Add(Id(replica));
        }

        var keptCurrent = current.Where(r => !stopped.Contains(Id(r))).ToList();
        var availableNew = 0;
        foreach (var replica in keptCurrent)
        {
            if (replica.Status?.Phase == Phase.Ready)
            {
                availableNew++;
            }
            else if (Unreported(replica))
            {
                var at = CreatedAt(replica) + options.UnreportedReadyTimeout;
                if (at <= now)
                {
                    availableNew++;
                }
                else
                {
                    WakeAt(at);
                }
            }
        }

        // Old revision: keep only as many as the new ones cannot yet stand in for.
        var allowedOld = Math.Max(0, desired - availableNew);
        var oldToStop = old.Count - allowedOld;
        foreach (var replica in RetireOrder(old).Take(Math.Max(0, oldToStop)))
        {
            actions.Add(new StopReplica(Id(replica), $"replaced by revision {revision}"));
            stopped.Add(Id(replica));
        }

        var keptOld = old.Count - Math.Max(0, oldToStop);

        // New replicas: up to the desired count, and with old ones still running at most one above it.
        var create = Math.Min(desired - keptCurrent.Count, desired + (keptOld > 0 ? 1 : 0) - keptCurrent.Count - keptOld);
        var template = service.Spec.Template ?? new ReplicaTemplate();
        for (var i = 0; i < create; i++)
        {
            actions.Add(new CreateReplica(revision, template, $"to reach {Plural(desired, "replica")}"));
        }

        var created = Math.Max(0, create);
        var updated = keptCurrent.Count + created;
        var ready = active.Count(r => !stopped.Contains(Id(r)) && r.Status?.Phase == Phase.Ready);
        var complete = keptOld == 0 && updated == desired && availableNew >= desired;
        var status = new ServiceStatus
        {
            ObservedGeneration = service.Meta?.Generation ?? 0,
            CurrentRevision = revision,
            Replicas = updated + keptOld,
            ReadyReplicas = ready,
            UpdatedReplicas = updated,
            Rollout = complete ? RolloutState.Complete : RolloutState.Progressing,
            Reason = complete ? "" : keptOld > 0 ? "ReplacingReplicas" : "WaitingForReady",
            Message = $"{updated} of {desired} on revision {revision}, {ready} ready" + (keptOld > 0 ? $", {keptOld} of an older revision" : ""),
        };
        return new ServicePlan(actions, status, Delay(wakeAt, now));
    }

    /// <summary>Why a retiring replica can be deleted now, or null if it may still be running.</summary>
    private static string? Ended(Replica replica)
    {
        if (string.IsNullOrEmpty(replica.Spec.Node))
        {
            return "it was never placed on a node";
        }

        return replica.Status?.Phase switch
        {
            Phase.Succeeded => "it stopped",
            Phase.Failed => "it stopped",
            Phase.Lost => "its node was lost",
            _ => null,
        };
    }

    /// <summary>Unplaced first, then not ready, then newest (the order Kubernetes scales down in; <c>orc plan</c> names them in it).</summary>
    public static IEnumerable<Replica> RetireOrder(IEnumerable<Replica> replicas) =>
        replicas
            .OrderBy(r => string.IsNullOrEmpty(r.Spec.Node) || r.Status is null || r.Status.Phase is Phase.Pending or Phase.Unspecified ? 0 : r.Status.Phase == Phase.Ready ? 2 : 1)
            .ThenByDescending(CreatedAt)
            .ThenByDescending(Id, StringComparer.Ordinal);

    /// <summary>No agent has said anything about it yet.</summary>
    private static bool Unreported(Replica replica) =>
        replica.Status is null || replica.Status.Phase is Phase.Unspecified or Phase.Pending or Phase.Scheduled;

    private static string Id(Replica replica) => replica.Meta.Name;

    private static DateTimeOffset CreatedAt(Replica replica) =>
        replica.Meta?.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue;

    /// <summary>When the stop was asked: the replica spec's last update (the stop write sets it).</summary>
    private static DateTimeOffset StopRequestedAt(Replica replica) =>
        replica.Meta?.UpdatedAt?.ToDateTimeOffset() ?? CreatedAt(replica);

    private static TimeSpan StopGrace(Replica replica) =>
        replica.Spec.Template?.StopGracePeriod is { } grace ? grace.ToTimeSpan() : SpecDefaults.StopGracePeriod;

    private static TimeSpan? Delay(DateTimeOffset? wakeAt, DateTimeOffset now) =>
        wakeAt is { } at ? (at > now ? at - now : TimeSpan.Zero) : null;

    private static string Plural(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";
}
