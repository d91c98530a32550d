using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>One change the service controller makes to reach a service's desired replicas.</summary>
public abstract record ServiceAction;

/// <summary>Create a replica of <paramref name="Revision"/> (the reconciler picks its id); <paramref name="Why"/> ends the event message.</summary>
public sealed record CreateReplica(long Revision, ReplicaTemplate Template, string Why) : ServiceAction;

/// <summary>Ask replica <paramref name="Id"/> to stop (desired = STOP); its agent stops it.</summary>
public sealed record StopReplica(string Id, string Why) : ServiceAction;

/// <summary>
/// Take replica <paramref name="Id"/> out of traffic before it stops (desired = DRAIN, ADR 0008):
/// it is asked to stop once every connected node acknowledged endpoints without it, or at the drain timeout.
/// </summary>
public sealed record DrainReplica(string Id, string Why) : ServiceAction;

/// <summary>Delete replica <paramref name="Id"/>'s spec and status keys: it ended, or nobody reported on it in time.</summary>
public sealed record RemoveReplica(string Id, string Why) : ServiceAction;

/// <summary>
/// Point the service back at revision <paramref name="ToRevision"/> (its template becomes
/// <paramref name="Template"/>), because the rollout of <paramref name="FromRevision"/> failed
/// for <paramref name="Reason"/> (ADR 0017). Written together with the plan's status.
/// </summary>
public sealed record RollBack(long FromRevision, long ToRevision, ReplicaTemplate Template, string Reason) : ServiceAction;

/// <summary>Record an event about the service (rollout started, complete, failed, rolled back, paused).</summary>
public sealed record RecordEvent(EventType Type, string Reason, string Message) : ServiceAction;

/// <summary>What the service controller should do now, the status to store (null when the service is gone), and when to look again.</summary>
public sealed record ServicePlan(IReadOnlyList<ServiceAction> Actions, ServiceStatus? Status, TimeSpan? RequeueAfter);

/// <summary>
/// The service controller's decision, a pure function of the service (its spec, and in
/// <c>service.Status</c> the status the last pass stored), its replicas, the nodes they are
/// on, the revision history and the time: tests call it directly, the reconciler applies its
/// actions with CAS writes. See docs/adr/0017-rollouts-and-rollback.md.
/// <para>
/// Replicas are <em>active</em> (desired RUN) or <em>retiring</em> (desired DRAIN or STOP).
/// A replica that may serve traffic (Ready, with ports) retires through DRAIN and is asked to
/// STOP once the <see cref="DrainGate"/> opens: the endpoints controller dropped it, and every
/// connected node acknowledged that endpoints version (or a later one). After
/// <see cref="ControllerOptions.DrainTimeout"/> it is asked to STOP anyway, with a Warning event
/// naming the nodes that lagged. Others STOP at once. Retiring
/// replicas are removed once they ended (Succeeded, Failed, Lost), were never placed, or
/// after their stop grace period plus <see cref="ControllerOptions.StopTimeoutExtra"/>.
/// </para>
/// <para>
/// Active replicas split into <em>lost</em> (phase Lost: stopped and replaced at once, outside
/// the surge), <em>current</em> (the service's revision, on a usable node) and
/// <em>outdated</em> (an older revision, or on a node that is draining, Down or gone). A
/// replica is <em>available</em> once Ready for <c>update.minReady</c>.
/// </para>
/// <para>
/// The rolling arithmetic is Kubernetes' (pkg/controller/deployment/rolling.go), with
/// D = replicas, S = maxSurge, U = maxUnavailable as counts (<see cref="ApplyPlanner.RollingLimits"/>):
/// surplus current replicas beyond D stop first (scale-down order: unplaced, not ready, most
/// loaded node, newest); outdated replicas that are not available stop while the service
/// keeps D − U available (<c>total − (D − U) − unavailable current</c> of them); available
/// outdated ones stop while more than D − U are available; then current replicas are created
/// up to D while active replicas stay at most D + S (D alone when nothing is outdated).
/// </para>
/// <para>
/// Worked example, D 3, S 1, U 0, template changed (old o1..o3 ready, none new):
/// pass 1: available 3 = D − U, nothing stops; active 3 &lt; 4, create n1.
/// n1 Ready for minReady: available 4, one old stops (available 3); active 3, create n2.
/// ... until n3 is available and the last old replica stops: complete, revision stable.
/// With U 1, S 0: pass 1 stops o3 (available 3 &gt; 2), then creates n1 (active 2 &lt; 3).
/// </para>
/// <para>
/// A rollout (revision ≠ the last stable one) fails when one of its replicas crash-loops or
/// cannot start, or when it made no progress for <c>update.progressDeadline</c>. With
/// <c>onFailure: rollback</c> and a stable revision in the history, the service is pointed
/// back at that revision (<see cref="RollBack"/>, status ROLLED_BACK). Otherwise the rollout
/// halts (status FAILED) like a paused one until the spec changes again (apply, scale,
/// undo, resume). A halted or paused rollout stops no outdated replica and creates current
/// ones only to keep D active.
/// </para>
/// </summary>
public sealed class ServicePlanner(ControllerOptions options)
{
    private const string CrashLoopBackOff = "CrashLoopBackOff";

    /// <summary>The reason of the Warning event recorded when a drain ends at its timeout.</summary>
    public const string DrainTimedOut = "DrainTimedOut";

    /// <summary>A drain timeout's event names this many lagging nodes, then says how many more.</summary>
    private const int MaxLaggingNamed = 10;

    /// <summary>As <see cref="Plan(Service?, IReadOnlyList{Replica}, IReadOnlyList{Node}?, IReadOnlyList{ServiceRevision}?, DateTimeOffset, DrainGate?)"/> without nodes or history.</summary>
    public ServicePlan Plan(Service? service, IReadOnlyList<Replica> replicas, DateTimeOffset now) => Plan(service, replicas, null, null, now);

    /// <param name="service">The service with the status the last pass stored, or null when it was deleted (every replica retires).</param>
    /// <param name="replicas">The replicas owned by the service, each with its status merged.</param>
    /// <param name="nodes">The nodes the replicas are bound to, status merged; null when unknown (no replica counts as displaced).</param>
    /// <param name="revisions">The service's revision history (the rollback target's template comes from it).</param>
    /// <param name="gate">The service's published endpoints and the connected nodes' acks; null: nothing is published (draining replicas stop at once).</param>
    public ServicePlan Plan(Service? service, IReadOnlyList<Replica> replicas, IReadOnlyList<Node>? nodes, IReadOnlyList<ServiceRevision>? revisions, DateTimeOffset now, DrainGate? gate = null)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        var pass = new Pass(now, gate ?? DrainGate.NothingPublished);
        var nodeByName = nodes?.Where(n => n.Meta is not null).GroupBy(n => n.Meta.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

        var active = new List<Replica>();
        foreach (var replica in replicas.OrderBy(r => r.Meta?.Name, StringComparer.Ordinal))
        {
            if (replica.Spec.Desired == DesiredState.Run)
            {
                active.Add(replica);
            }
            else
            {
                PlanRetiring(replica, pass);
            }
        }

        if (service is null)
        {
            foreach (var replica in active)
            {
                Retire(replica, "its service was deleted", pass.Actions);
            }

            return new ServicePlan(pass.Actions, null, pass.Delay());
        }

        var retiringActions = pass.Actions.ToList();
        var lost = active.Where(r => r.Status?.Phase == Phase.Lost).ToList();
        var live = active.Where(r => r.Status?.Phase != Phase.Lost).ToList();
        var revision = service.Revision;
        var displaced = live.Where(r => Displaced(r, nodeByName) is not null).ToList();
        var current = live.Where(r => r.Spec.Revision == revision && Displaced(r, nodeByName) is null).ToList();
        var outdated = live.Where(r => r.Spec.Revision != revision || Displaced(r, nodeByName) is not null).ToList();

        var spec = service.Spec;
        var desired = Math.Max(0, spec.Replicas);
        var (surge, unavailable) = ApplyPlanner.RollingLimits(spec.Update, desired);
        var minReady = spec.Update?.MinReady?.ToTimeSpan() ?? SpecDefaults.MinReady;
        var deadline = spec.Update?.ProgressDeadline?.ToTimeSpan() is { } d && d > TimeSpan.Zero ? d : SpecDefaults.ProgressDeadline;
        var onFailure = spec.Update?.OnFailure ?? OnFailure.Rollback;

        var previous = service.Status ?? new ServiceStatus();
        var generation = service.Meta?.Generation ?? 0;
        var sameGeneration = previous.ObservedGeneration == generation;
        var stable = previous.StableRevision != 0 ? previous.StableRevision
            : previous.Rollout == RolloutState.Complete && previous.CurrentRevision != 0 ? previous.CurrentRevision : 0;
        var rollingOut = revision != stable;
        var halted = sameGeneration && previous.Rollout == RolloutState.Failed && previous.FailedRevision == revision;
        var rolledBack = sameGeneration && previous.Rollout == RolloutState.RolledBack;
        var frozen = spec.Paused || halted;

        bool Available(Replica r) => IsAvailable(r, minReady, now, pass);

        var counts = PlanReplicas(frozen);
        var progressed = !sameGeneration || previous.CurrentRevision != revision || previous.ProgressAt is null
            || counts.Updated > previous.UpdatedReplicas
            || counts.AvailableAfter > previous.AvailableReplicas
            || counts.Old < previous.Replicas - previous.UpdatedReplicas;
        var progressAt = progressed ? now : previous.ProgressAt!.ToDateTimeOffset();

        var state = RolloutState.Progressing;
        var reason = counts.Old > 0 ? "ReplacingReplicas" : "WaitingForReady";
        var message = "";
        var failedRevision = halted || rolledBack ? previous.FailedRevision : 0;
        var events = new List<ServiceAction>();

        // Failure: a rollout that is moving (not paused, not already halted) and has a replica
        // that cannot run, or made no progress for the deadline.
        if (rollingOut && !frozen && !counts.Complete && Failure(current, progressed ? null : progressAt, deadline, now) is { } failure)
        {
            var target = stable != 0 ? revisions?.FirstOrDefault(r => r.Revision == stable) : null;
            if (onFailure != OnFailure.Pause && target is not null)
            {
                var text = $"rollout of revision {revision} failed ({failure.Text}); rolled back to revision {stable}";
                pass.Actions.Clear();
                pass.Actions.AddRange(retiringActions);
                pass.Actions.Add(new RollBack(revision, stable, target.Template ?? new ReplicaTemplate(), failure.Text));
                pass.Actions.Add(new RecordEvent(EventType.Warning, "RolledBack", $"Rolled back from revision {revision} to revision {stable}: {failure.Text}"));
                var rollbackStatus = new ServiceStatus
                {
                    ObservedGeneration = generation + 1,
                    CurrentRevision = stable,
                    Replicas = live.Count,
                    ReadyReplicas = live.Count(r => r.Status?.Phase == Phase.Ready),
                    AvailableReplicas = live.Count(Available),
                    UpdatedReplicas = live.Count(r => r.Spec.Revision == stable && Displaced(r, nodeByName) is null),
                    Rollout = RolloutState.RolledBack,
                    Reason = failure.Reason,
                    Message = text,
                    StableRevision = stable,
                    FailedRevision = revision,
                    ProgressAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(now),
                };
                return new ServicePlan(pass.Actions, rollbackStatus, TimeSpan.Zero);
            }

            var why = onFailure == OnFailure.Pause
                ? "halted (onFailure: pause); fix the spec and apply it, run orc rollout undo, or orc rollout resume to try again"
                : stable == 0 ? "no earlier revision completed, so there is nothing to roll back to" : $"revision {stable} is no longer in the history, so there is nothing to roll back to";
            halted = true;
            frozen = true;
            failedRevision = revision;
            pass.Actions.Clear();
            pass.Actions.AddRange(retiringActions);
            counts = PlanReplicas(frozen: true);
            reason = failure.Reason;
            message = $"rollout of revision {revision} failed ({failure.Text}); {why}";
            events.Add(new RecordEvent(EventType.Warning, "RolloutFailed", $"Rollout of revision {revision} failed: {failure.Text}; {why}"));
        }

        if (rolledBack)
        {
            state = RolloutState.RolledBack;
            reason = previous.Reason;
            message = previous.Message;
        }
        else if (halted)
        {
            state = RolloutState.Failed;
            if (message.Length == 0)
            {
                reason = previous.Reason;
                message = previous.Message;
            }
        }
        else if (spec.Paused)
        {
            state = RolloutState.Paused;
            reason = "Paused";
            message = $"paused (orc rollout resume goes on); {counts.Updated} of {desired} on revision {revision}";
            if (previous.Rollout != RolloutState.Paused)
            {
                events.Add(new RecordEvent(EventType.Normal, "RolloutPaused", $"Rollout of revision {revision} paused with {counts.Updated} of {desired} replicas updated"));
            }
        }
        else if (previous.Rollout == RolloutState.Paused)
        {
            events.Add(new RecordEvent(EventType.Normal, "RolloutResumed", $"Rollout of revision {revision} resumed with {counts.Updated} of {desired} replicas updated"));
        }

        if (state == RolloutState.Progressing && !spec.Paused && counts.Complete)
        {
            state = RolloutState.Complete;
            reason = "";
            if (rollingOut && (previous.Rollout != RolloutState.Complete || previous.CurrentRevision != revision))
            {
                events.Add(new RecordEvent(EventType.Normal, "RolloutComplete", $"Rollout of revision {revision} complete: {Plural(desired, "replica")} available"));
            }
        }

        if (message.Length == 0)
        {
            message = $"{counts.Updated} of {desired} on revision {revision}, {counts.Ready} ready, {counts.AvailableAfter} available"
                + (counts.Old > 0 ? $", {counts.Old} to replace" : "");
        }

        if (rollingOut && previous.CurrentRevision != revision && previous.CurrentRevision != 0 && !counts.Complete)
        {
            events.Insert(0, new RecordEvent(EventType.Normal, "RolloutStarted", $"Rolling out revision {revision} (maxSurge {surge}, maxUnavailable {unavailable}): {Plural(outdated.Count, "replica")} to replace"));
        }

        pass.Actions.AddRange(events);
        if (rollingOut && !frozen && !counts.Complete)
        {
            pass.WakeAt(progressAt + deadline);
        }

        var status = new ServiceStatus
        {
            ObservedGeneration = generation,
            CurrentRevision = revision,
            Replicas = counts.Updated + counts.Old,
            ReadyReplicas = counts.Ready,
            UpdatedReplicas = counts.Updated,
            AvailableReplicas = counts.AvailableAfter,
            Rollout = state,
            Reason = reason,
            Message = message,
            StableRevision = counts.Complete && !halted ? revision : stable,
            FailedRevision = state is RolloutState.Failed or RolloutState.RolledBack ? failedRevision : 0,
            ProgressAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(progressAt),
        };
        return new ServicePlan(pass.Actions, status, pass.Delay());

        Counts PlanReplicas(bool frozen)
        {
            var stopped = new HashSet<string>(StringComparer.Ordinal);

            foreach (var replica in lost)
            {
                pass.Actions.Add(new StopReplica(Id(replica), $"its node {replica.Spec.Node} was lost; a replacement is created"));
            }

            // Surplus of the current revision: a scale-down, not limited by maxUnavailable.
            foreach (var replica in PickToRetire(current, current.Count - desired, active, nodeByName))
            {
                Retire(replica, $"scaled down to {Plural(desired, "replica")}", pass.Actions);
                stopped.Add(Id(replica));
            }

            var keptCurrent = current.Where(r => !stopped.Contains(Id(r))).ToList();
            var oldKept = outdated.Count;
            if (!frozen && outdated.Count > 0)
            {
                var minAvailable = Math.Max(0, desired - unavailable);
                var total = keptCurrent.Count + outdated.Count;
                var currentUnavailable = keptCurrent.Count(r => !Available(r));
                var cleanup = Math.Max(0, total - minAvailable - currentUnavailable);
                foreach (var replica in PickToRetire(outdated.Where(r => !Available(r)).ToList(), cleanup, active, nodeByName))
                {
                    Retire(replica, WhyReplaced(replica), pass.Actions);
                    stopped.Add(Id(replica));
                }

                var availableNow = keptCurrent.Count(Available) + outdated.Count(Available);
                var availableOutdated = outdated.Where(r => Available(r) && !stopped.Contains(Id(r))).ToList();
                var displacedFirst = availableOutdated.Where(r => Displaced(r, nodeByName) is not null).ToList();
                var ordered = PickToRetire(displacedFirst, displacedFirst.Count, active, nodeByName)
                    .Concat(PickToRetire(availableOutdated.Except(displacedFirst).ToList(), availableOutdated.Count, active, nodeByName))
                    .Take(Math.Max(0, availableNow - minAvailable));
                foreach (var replica in ordered)
                {
                    Retire(replica, WhyReplaced(replica), pass.Actions);
                    stopped.Add(Id(replica));
                }

                oldKept = outdated.Count(r => !stopped.Contains(Id(r)));
            }

            var activeAfter = keptCurrent.Count + oldKept;
            var maxTotal = oldKept == 0 ? desired : frozen ? desired : desired + surge;
            var create = Math.Max(0, Math.Min(desired - keptCurrent.Count, maxTotal - activeAfter));
            var template = spec.Template ?? new ReplicaTemplate();
            var createWhy = lost.Count > 0 ? $"to replace {Plural(lost.Count, "lost replica")}" : outdated.Count > 0 ? $"to roll out revision {revision}" : $"to reach {Plural(desired, "replica")}";
            for (var i = 0; i < create; i++)
            {
                pass.Actions.Add(new CreateReplica(revision, template, createWhy));
            }

            var updated = keptCurrent.Count + create;
            var currentAvailable = keptCurrent.Count(Available);
            var keptActive = live.Where(r => !stopped.Contains(Id(r))).ToList();
            return new Counts(
                Updated: updated,
                Old: oldKept,
                Ready: keptActive.Count(r => r.Status?.Phase == Phase.Ready),
                AvailableAfter: keptActive.Count(Available),
                Complete: oldKept == 0 && updated == desired && currentAvailable >= desired);
        }

        string WhyReplaced(Replica replica) =>
            Displaced(replica, nodeByName) is { } why ? $"{why}; replaced on another node" : $"replaced by revision {revision}";
    }

    private sealed record Counts(int Updated, int Old, int Ready, int AvailableAfter, bool Complete);

    private sealed record FailureCause(string Reason, string Text);

    /// <summary>Why the rollout of the current replicas failed, or null.</summary>
    private FailureCause? Failure(List<Replica> current, DateTimeOffset? stalledSince, TimeSpan deadline, DateTimeOffset now)
    {
        foreach (var replica in current.OrderBy(r => Id(r), StringComparer.Ordinal))
        {
            if (replica.Status is not { } s)
            {
                continue;
            }

            if (s.Phase == Phase.Failed && s.Reason != CrashLoopBackOff)
            {
                var detail = string.IsNullOrEmpty(s.Message) ? "" : $": {s.Message}";
                return new FailureCause(string.IsNullOrEmpty(s.Reason) ? "Failed" : s.Reason, $"replica {Id(replica)} failed ({(string.IsNullOrEmpty(s.Reason) ? "Failed" : s.Reason)}{detail})");
            }

            if ((s.Reason == CrashLoopBackOff && s.Restarts >= 1) || s.Restarts >= options.RolloutMaxRestarts)
            {
                return new FailureCause(CrashLoopBackOff, $"replica {Id(replica)} is crash-looping ({Plural(s.Restarts, "restart")}{(string.IsNullOrEmpty(s.Message) ? "" : $"; {s.Message}")})");
            }
        }

        if (stalledSince is { } since && since + deadline <= now)
        {
            return new FailureCause("ProgressDeadlineExceeded", $"no progress for {DurationText.Format(deadline)} (progressDeadline)");
        }

        return null;
    }

    private void PlanRetiring(Replica replica, Pass pass)
    {
        if (Ended(replica) is { } why)
        {
            pass.Actions.Add(new RemoveReplica(Id(replica), why));
            return;
        }

        var asked = StopRequestedAt(replica);
        if (replica.Spec.Desired == DesiredState.Drain)
        {
            PlanDraining(replica, asked, pass);
            return;
        }

        var deadline = asked + StopGrace(replica) + options.StopTimeoutExtra;
        if (deadline <= pass.Now)
        {
            pass.Actions.Add(new RemoveReplica(Id(replica), $"no report that it stopped within {DurationText.Format(deadline - asked)} of the stop request"));
        }
        else
        {
            pass.WakeAt(deadline);
        }
    }

    /// <summary>
    /// The drain gate (ADR 0008): a draining replica stops once no connected node's proxy can
    /// still route to it, that is once it is out of the published endpoints and every connected
    /// node acknowledged that version (the current one, which is at least the version that dropped
    /// it). The wait is bounded by <see cref="ControllerOptions.DrainTimeout"/> from the drain
    /// request; a stop at the timeout says which nodes lagged, in a Warning event.
    /// </summary>
    private void PlanDraining(Replica replica, DateTimeOffset asked, Pass pass)
    {
        var id = Id(replica);
        var gate = pass.Gate;
        var timeout = options.DrainTimeout;
        var deadline = asked + timeout;
        if (gate.EndpointsVersion == 0)
        {
            pass.Actions.Add(new StopReplica(id, "no endpoints of its service are published, so no proxy routes to it"));
            return;
        }

        if (gate.Published.Contains(id))
        {
            if (deadline > pass.Now)
            {
                pass.WakeAt(deadline);
                return;
            }

            pass.Actions.Add(new StopReplica(id, $"drain timeout of {DurationText.Format(timeout)} passed while it was still in its service's endpoints"));
            pass.Actions.Add(new RecordEvent(EventType.Warning, DrainTimedOut, $"Stopping replica {id} after the drain timeout of {DurationText.Format(timeout)}: it was still in the endpoints of its service (version {gate.EndpointsVersion}), so proxies may still route requests to it"));
            return;
        }

        var lagging = gate.Lagging();
        if (lagging.Count == 0)
        {
            pass.Actions.Add(new StopReplica(id, gate.Nodes.Count == 0
                ? $"out of its service's endpoints (version {gate.EndpointsVersion}); no node is connected to route to it"
                : $"out of traffic: {Plural(gate.Nodes.Count, "connected node")} acknowledged endpoints version {gate.EndpointsVersion} without it"));
            return;
        }

        if (deadline > pass.Now)
        {
            pass.WakeAt(deadline);
            return;
        }

        var named = string.Join(", ", lagging.Take(MaxLaggingNamed).Select(n => n.Version == 0 ? $"{n.Node} (no ack)" : $"{n.Node} (acked {n.Version})"));
        var more = lagging.Count > MaxLaggingNamed ? $" and {lagging.Count - MaxLaggingNamed} more" : "";
        pass.Actions.Add(new StopReplica(id, $"drain timeout of {DurationText.Format(timeout)} passed before {Plural(lagging.Count, "node")} acknowledged endpoints version {gate.EndpointsVersion}"));
        pass.Actions.Add(new RecordEvent(
            EventType.Warning,
            DrainTimedOut,
            $"Stopping replica {id} after the drain timeout of {DurationText.Format(timeout)}: {Plural(lagging.Count, "connected node")} had not acknowledged endpoints version {gate.EndpointsVersion}, which no longer routes to it: {named}{more}; their proxies may still send it requests"));
    }

    /// <summary>A replica that may be serving (Ready, with ports) drains first; any other one stops at once.</summary>
    private static void Retire(Replica replica, string why, List<ServiceAction> actions) =>
        actions.Add(replica.Status?.Phase == Phase.Ready && replica.Spec.Template?.Ports.Count > 0 ? new DrainReplica(Id(replica), why) : new StopReplica(Id(replica), why));

    private static bool IsAvailable(Replica replica, TimeSpan minReady, DateTimeOffset now, Pass pass)
    {
        if (replica.Status?.Phase != Phase.Ready)
        {
            return false;
        }

        if (minReady <= TimeSpan.Zero)
        {
            return true;
        }

        var since = replica.Status.ReadyAt?.ToDateTimeOffset() ?? replica.Status.LastTransitionAt?.ToDateTimeOffset();
        if (since is not { } readyAt || readyAt + minReady <= now)
        {
            return true;
        }

        pass.WakeAt(readyAt + minReady);
        return false;
    }

    /// <summary>Why a replica must move off its node (draining, Down, gone), or null when its node is fine or unknown.</summary>
    private static string? Displaced(Replica replica, Dictionary<string, Node>? nodes)
    {
        if (nodes is null || string.IsNullOrEmpty(replica.Spec.Node))
        {
            return null;
        }

        if (!nodes.TryGetValue(replica.Spec.Node, out var node))
        {
            return $"its node {replica.Spec.Node} no longer exists";
        }

        if (node.Spec?.Draining == true)
        {
            return $"its node {replica.Spec.Node} is draining";
        }

        return node.Status?.State == NodeState.Down ? $"its node {replica.Spec.Node} is down" : null;
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
            .OrderBy(Tier)
            .ThenByDescending(CreatedAt)
            .ThenByDescending(Id, StringComparer.Ordinal);

    /// <summary>
    /// The <paramref name="count"/> replicas of <paramref name="candidates"/> to retire first:
    /// unplaced, then not ready, then those on the most loaded node (most active replicas of
    /// the service there, recounted after each pick, then the most allocated node), then newest.
    /// </summary>
    public static IReadOnlyList<Replica> PickToRetire(IReadOnlyList<Replica> candidates, int count, IReadOnlyList<Replica> active, IReadOnlyDictionary<string, Node>? nodes)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(active);
        var picked = new List<Replica>();
        if (count <= 0 || candidates.Count == 0)
        {
            return picked;
        }

        var perNode = active.Where(r => !string.IsNullOrEmpty(r.Spec.Node)).GroupBy(r => r.Spec.Node, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var left = candidates.ToList();
        while (picked.Count < count && left.Count > 0)
        {
            var best = left
                .OrderBy(Tier)
                .ThenByDescending(r => string.IsNullOrEmpty(r.Spec.Node) ? 0 : perNode.GetValueOrDefault(r.Spec.Node))
                .ThenByDescending(r => Allocated(r, nodes))
                .ThenByDescending(CreatedAt)
                .ThenByDescending(Id, StringComparer.Ordinal)
                .First();
            picked.Add(best);
            left.Remove(best);
            if (!string.IsNullOrEmpty(best.Spec.Node) && perNode.TryGetValue(best.Spec.Node, out var n))
            {
                perNode[best.Spec.Node] = n - 1;
            }
        }

        return picked;
    }

    private static int Tier(Replica r) =>
        string.IsNullOrEmpty(r.Spec.Node) || r.Status is null || r.Status.Phase is Phase.Pending or Phase.Unspecified ? 0 : r.Status.Phase == Phase.Ready ? 2 : 1;

    /// <summary>How full the replica's node is: allocated cpu and memory as fractions of allocatable, summed.</summary>
    private static double Allocated(Replica replica, IReadOnlyDictionary<string, Node>? nodes)
    {
        if (nodes is null || string.IsNullOrEmpty(replica.Spec.Node) || !nodes.TryGetValue(replica.Spec.Node, out var node))
        {
            return 0;
        }

        var used = node.Status?.Allocated;
        var room = node.Info?.Allocatable;
        if (used is null || room is null)
        {
            return 0;
        }

        return (room.CpuMillis > 0 ? (double)used.CpuMillis / room.CpuMillis : 0) + (room.MemoryBytes > 0 ? (double)used.MemoryBytes / room.MemoryBytes : 0);
    }

    private static string Id(Replica replica) => replica.Meta.Name;

    private static DateTimeOffset CreatedAt(Replica replica) =>
        replica.Meta?.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue;

    /// <summary>When the stop (or drain) was asked: the replica spec's last update (the write sets it).</summary>
    private static DateTimeOffset StopRequestedAt(Replica replica) =>
        replica.Meta?.UpdatedAt?.ToDateTimeOffset() ?? CreatedAt(replica);

    private static TimeSpan StopGrace(Replica replica) =>
        replica.Spec.Template?.StopGracePeriod is { } grace ? grace.ToTimeSpan() : SpecDefaults.StopGracePeriod;

    private static string Plural(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";

    /// <summary>The actions of one pass and the earliest time something waits on.</summary>
    private sealed class Pass(DateTimeOffset now, DrainGate gate)
    {
        private DateTimeOffset? _wakeAt;

        public DateTimeOffset Now { get; } = now;

        public DrainGate Gate { get; } = gate;

        public List<ServiceAction> Actions { get; } = [];

        public void WakeAt(DateTimeOffset at) => _wakeAt = _wakeAt is { } w && w <= at ? w : at;

        public TimeSpan? Delay() => _wakeAt is { } at ? (at > Now ? at - Now : TimeSpan.Zero) : null;
    }
}
