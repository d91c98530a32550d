using System.Globalization;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// <c>orc explain</c>: every node's verdict for one replica, recomputed on a copy of the current
/// snapshot as if the replica were being placed now (docs/adr/0009-placement-explanations.md).
/// A bound replica's own allocation is given back first, so the node it is on is judged on the
/// same footing as the others; the result is compared with the stored decision in plain words.
/// Nothing is bound and nothing is written.
/// </summary>
public sealed class PlacementExplainer(ClusterSnapshotReader snapshots, Scheduler scheduler, TimeProvider time)
{
    public Task<ExplainResponse> ExplainAsync(Replica replica, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replica);
        return snapshots.ReadAsync(snapshot => Explain(scheduler, replica, snapshot, time.GetUtcNow()), cancellationToken);
    }

    /// <summary>Explains <paramref name="replica"/> on <paramref name="snapshot"/>, which it changes: give it a copy.</summary>
    public static ExplainResponse Explain(Scheduler scheduler, Replica replica, ClusterSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(replica);
        ArgumentNullException.ThrowIfNull(snapshot);
        var id = replica.Meta?.Name ?? "";
        var spec = replica.Spec ?? new ReplicaSpec();
        snapshot.RemoveReplica(id);
        var (decision, verdicts) = scheduler.Explain(new PlacementRequest(id, spec.Owner, spec.Template), snapshot, now);
        var current = string.IsNullOrEmpty(spec.Node) ? null : spec.Node;

        // Rejected nodes group by rule, the most common rule first (the order of the summary's counts).
        var ruleOrder = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var rejected in decision.Explanation.Rejected)
        {
            ruleOrder.TryAdd(rejected.Rule, ruleOrder.Count);
        }

        var response = new ExplainResponse { Replica = replica, Now = decision.Explanation };
        response.Nodes.AddRange(verdicts
            .OrderBy(v => v.Node == decision.Node ? 0 : v.Fits ? 1 : 2)
            .ThenByDescending(v => v.Score?.Total ?? 0)
            .ThenBy(v => v.Rule is null ? 0 : ruleOrder.GetValueOrDefault(v.Rule, int.MaxValue))
            .ThenBy(v => v.Node, StringComparer.Ordinal)
            .Select(v => new NodeExplanation
            {
                Node = v.Node,
                Fits = v.Fits,
                Chosen = v.Node == decision.Node,
                Current = v.Node == current,
                Rule = v.Rule ?? "",
                Detail = v.Detail,
                Score = v.Score,
            }));
        var (changed, summary) = Compare(replica, current, verdicts.FirstOrDefault(v => v.Node == current), decision);
        response.Changed = changed;
        response.Summary = summary;
        return response;
    }

    /// <summary>The stored decision against the one made now, in words a lab reader can follow.</summary>
    private static (bool Changed, string Summary) Compare(Replica replica, string? current, NodeVerdict? here, PlacementDecision decision)
    {
        var now = decision.Explanation;
        var stored = replica.Status?.Placement;
        var wouldGo = decision.Node is null ? $"it would fit on no node ({now.Message})" : $"it would go to {decision.Node}";
        if (replica.Spec?.Desired is DesiredState.Stop or DesiredState.Drain || NodeStatusWriter.IsFinal(replica.Status))
        {
            // Nothing will place it again: say where it would go, and no more.
            var state = NodeStatusWriter.IsFinal(replica.Status) ? $"It has ended ({replica.Status!.Phase})" : "It is being stopped";
            var where = current is null ? ", so it will not be placed" : $" on {current}";
            return (false, $"{state}{where}. Placed now, {wouldGo}.");
        }

        if (current is not null)
        {
            if (decision.Node == current)
            {
                return (false, $"Placed now, it would go to {current} again, the node it is on.");
            }

            var why = here is null ? $"{current} is no longer registered"
                : !here.Fits ? $"{current} is now rejected for {here.Rule} ({here.Detail})"
                : $"{current} still fits, but {decision.Node} scores higher: {Scheduler.Format(now.Chosen?.Total ?? 0)} against {Scheduler.Format(here.Score?.Total ?? 0)}";
            var instead = decision.Node is null ? wouldGo : $"{wouldGo}, not {current},";
            return (true, $"The cluster has changed since the decision: placed now, {instead} because {why}. A placed replica is not moved: it stays on {current} until it is replaced.");
        }

        if (decision.Node is null)
        {
            var changed = stored is not null && stored.Message.Length > 0 && stored.Message != now.Message;
            var prefix = changed ? "The cluster has changed since the decision, but it still fits on no node: " : "";
            return (changed, $"{prefix}{now.Message}. It stays Pending until a node has room for it: the scheduler tries again when a node joins, turns Ready or is uncordoned, or a replica ends.");
        }

        var fit = string.Create(CultureInfo.InvariantCulture, $"{now.NodesFeasible} of {now.NodesTotal} nodes fit now");
        var since = stored is null || stored.Message.Length == 0 ? "It has not been placed yet" : "The cluster has changed since the decision";
        return (true, $"{since}: placed now, {wouldGo} ({fit}); the scheduler places it on its next pass.");
    }
}
