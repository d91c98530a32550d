using System.Globalization;
using System.Text;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>
/// The text of <c>orc plan</c>: per object, what apply would report and the changes field by
/// field, then what happens to its replicas (kept, replaced by a rolling update, removed by a
/// scale-down) and where each new one would go with its one-line explanation; then what the
/// placements assume and a count of it all.
/// </summary>
public static class PlanWriter
{
    public static string Write(PlanResponse plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var text = new StringBuilder();
        foreach (var item in plan.Objects)
        {
            Object(text, item);
        }

        text.Append('\n').Append(plan.Assumption).Append('\n');
        text.Append(Summary(plan)).Append('\n');
        return text.ToString();
    }

    private static void Object(StringBuilder text, ObjectPlan item)
    {
        var result = item.Result ?? new ApplyResult();
        var kind = ObjectKinds.All.FirstOrDefault(k => k.Kind == result.Kind)?.Singular ?? result.Kind.ToString().ToLowerInvariant();
        var isService = result.Kind == ObjectKind.Service;
        var newRevision = isService && result.Outcome == ApplyOutcome.Configured && result.Changes.Any(c => c.StartsWith("template", StringComparison.Ordinal));
        var outcome = result.Outcome switch
        {
            ApplyOutcome.Created => "created",
            ApplyOutcome.Configured => newRevision ? $"configured (revision {Num(result.Revision)})" : "configured",
            ApplyOutcome.Unchanged => "unchanged",
            _ => "applied",
        };
        Line(text, 0, $"{kind}/{result.Name} {outcome}");
        if (result.Changes.Count > 0)
        {
            Line(text, 2, "changes:");
            foreach (var change in result.Changes)
            {
                Line(text, 4, change);
            }
        }

        if (item.Removed.Count > 0)
        {
            Line(text, 2, $"scale down to {Num(item.Replicas)}, removing {Replicas(item.Removed.Count)}:");
            Existing(text, item.Removed);
        }

        if (item.Replaced.Count > 0)
        {
            var update = item.Update ?? new UpdateStrategy();
            Line(text, 2, $"rolling update to revision {Num(result.Revision)}, replacing {Replicas(item.Replaced.Count)} with " +
                $"{Between(item.Replicas, item.MaxSurge, item.MaxUnavailable)} at a time " +
                $"(maxSurge {Limit(update.MaxSurge, item.MaxSurge)}, maxUnavailable {Limit(update.MaxUnavailable, item.MaxUnavailable)}):");
            Existing(text, item.Replaced);
        }

        if (item.Kept.Count > 0 && (item.Created.Count > 0 || item.Removed.Count > 0))
        {
            Line(text, 2, item.Kept.Count == 1 ? "keeps 1 replica as it is" : $"keeps {Replicas(item.Kept.Count)} as they are");
        }

        if (item.Created.Count > 0)
        {
            var what = !isService && result.Outcome == ApplyOutcome.Created
                ? $"the first {Replicas(item.Created.Count)} (as many as run at once):"
                : item.Replaced.Count > 0 ? $"{New(item.Created.Count)} of revision {Num(result.Revision)}:" : $"{New(item.Created.Count)}:";
            Line(text, 2, what);
            var ordinals = item.Created.Select(r => "#" + Num(r.Ordinal)).ToList();
            var nodes = item.Created.Select(r => r.Node.Length > 0 ? r.Node : "-").ToList();
            var ordinalWidth = ordinals.Max(o => o.Length);
            var nodeWidth = nodes.Max(n => n.Length);
            for (var i = 0; i < item.Created.Count; i++)
            {
                Line(text, 4, $"{ordinals[i].PadRight(ordinalWidth)}   {nodes[i].PadRight(nodeWidth)}   {Explanation(item.Created[i])}");
            }
        }
    }

    private static void Existing(StringBuilder text, IEnumerable<PlannedReplica> replicas)
    {
        foreach (var replica in replicas)
        {
            var where = replica.Node.Length > 0 ? $"on {replica.Node}" : "not placed";
            Line(text, 4, $"{replica.Id} {where} ({Humanize.Phase(replica.Phase)}, revision {Num(replica.Revision)})");
        }
    }

    /// <summary>Why a new replica goes where it goes (the decision's message without its "Scheduled on node:"), or why it would stay Pending.</summary>
    public static string Explanation(PlannedReplica replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        var message = replica.Placement?.Message ?? "";
        if (replica.Node.Length == 0)
        {
            return $"would stay Pending: {message}";
        }

        var prefix = $"Scheduled on {replica.Node}: ";
        return message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : message;
    }

    /// <summary><c>Plan: 1 to create, 1 to change, 1 unchanged; 5 new replicas, 3 replaced, 1 removed. Everything fits on 3 nodes. Nothing was changed.</c></summary>
    public static string Summary(PlanResponse plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var results = plan.Objects.Select(o => o.Result?.Outcome ?? ApplyOutcome.Unspecified).ToList();
        var created = plan.Objects.Sum(o => o.Created.Count);
        var objects = $"{Num(results.Count(r => r == ApplyOutcome.Created))} to create, {Num(results.Count(r => r == ApplyOutcome.Configured))} to change, {Num(results.Count(r => r == ApplyOutcome.Unchanged))} unchanged";
        var replicas = $"{New(created)}, {Num(plan.Objects.Sum(o => o.Replaced.Count))} replaced, {Num(plan.Objects.Sum(o => o.Removed.Count))} removed";
        var nodes = plan.Nodes == 1 ? "the 1 node" : $"the {Num(plan.Nodes)} nodes";
        var fit = plan.Unschedulable == 0
            ? created == 0 ? "" : $" Every new replica fits on {nodes}."
            : $" {Num(plan.Unschedulable)} of {Num(created)} new replicas would fit on none of {nodes} and would stay Pending.";
        return $"Plan: {objects}; {replicas}.{fit} Nothing was changed.";
    }

    /// <summary><c>at most 4 and at least 2 running</c> for 3 replicas, surge 1, unavailable 1.</summary>
    private static string Between(int desired, int surge, int unavailable) =>
        $"at most {Num(desired + surge)} and at least {Num(Math.Max(0, desired - unavailable))} running";

    private static string Limit(IntOrPercent? written, int resolved) =>
        written is { Percent: true } p ? $"{Num(p.Value)}% = {Num(resolved)}" : Num(resolved);

    private static string Replicas(int n) => n == 1 ? "1 replica" : $"{Num(n)} replicas";

    private static string New(int n) => n == 1 ? "1 new replica" : $"{Num(n)} new replicas";

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static void Line(StringBuilder text, int indent, string line) => text.Append(' ', indent).Append(line.TrimEnd()).Append('\n');
}
