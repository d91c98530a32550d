using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>
/// The text of <c>orc explain</c>: a header (the replica, what it asks for, where it is and the
/// decision that put it there), the comparison with a decision made now, and a table of every
/// node's verdict, the chosen node first.
/// </summary>
public static class ExplainWriter
{
    public static readonly IReadOnlyList<string> Headers = ["NODE", "VERDICT", "DETAIL", "SCORE"];

    /// <summary>The header and the summary, each block ended by a blank line; the table follows (<see cref="Rows"/>).</summary>
    public static string Header(ExplainResponse response, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(response);
        var replica = response.Replica ?? new Replica();
        var spec = replica.Spec ?? new ReplicaSpec();
        var status = replica.Status ?? new ReplicaStatus();
        var template = spec.Template ?? new ReplicaTemplate();
        var placement = status.Placement;
        var owner = Humanize.Owner(spec.Owner);
        var header = new DescribeWriter()
            .Field("Replica", replica.Meta?.Name)
            .Field("Owner", spec.Revision > 0 ? $"{owner}, revision {spec.Revision.ToString(CultureInfo.InvariantCulture)}" : owner)
            .Field("Requests", Requests(template))
            .Field("Placement rules", template.Placement is null ? "spread" : Describer.Placement(template.Placement))
            .Field("Node", Where(spec, status))
            .Field("Decided", placement is null || placement.Message.Length == 0
                ? "no placement decision recorded yet"
                : $"{Ago(placement.DecidedAt, now)}: {placement.Message}")
            .ToString();
        return $"{header}\n{response.Summary}\n\n";
    }

    /// <summary>One row per node, in the order the server sorted them (chosen, other fits by score, rejected by rule).</summary>
    public static IEnumerable<IReadOnlyList<string>> Rows(ExplainResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return response.Nodes.Select(n => (IReadOnlyList<string>)
        [
            n.Node,
            Verdict(n),
            n.Detail,
            n.Fits && n.Score is not null ? Score(n.Score.Total) : "-",
        ]);
    }

    /// <summary><c>chosen</c>, <c>fits</c> or the rule; <c>(its node)</c> marks the node the replica is on.</summary>
    public static string Verdict(NodeExplanation node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var verdict = node.Chosen ? "chosen" : node.Fits ? "fits" : node.Rule;
        return node.Current ? verdict + " (its node)" : verdict;
    }

    public static string Score(double total) => Math.Round(total, 1).ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary><c>cpu 250m, memory 128Mi, driver docker, 1 host port (http)</c>.</summary>
    private static string Requests(ReplicaTemplate template)
    {
        var resources = template.Resources ?? new Resources();
        var driver = Humanize.Driver(template.Driver == Driver.Unspecified ? Driver.Docker : template.Driver);
        var text = $"cpu {Humanize.Cpu(resources.CpuMillis)}, memory {Humanize.Memory(resources.MemoryBytes)}, driver {driver}";
        var ports = template.Ports.Select(p => p.Name).ToList();
        return ports.Count switch
        {
            0 => text,
            1 => $"{text}, 1 host port ({ports[0]})",
            _ => $"{text}, {ports.Count} host ports ({string.Join(", ", ports)})",
        };
    }

    private static string Where(ReplicaSpec spec, ReplicaStatus status)
    {
        var phase = Humanize.Phase(status.Phase) + (status.Reason.Length > 0 ? $", {status.Reason}" : "");
        return spec.Node.Length > 0 ? $"{spec.Node} ({phase})" : $"none ({phase})";
    }

    private static string Ago(Google.Protobuf.WellKnownTypes.Timestamp? at, DateTimeOffset now) =>
        Humanize.Age(at, now) is var age && age != Humanize.None ? $"{age} ago" : "at an unknown time";
}
