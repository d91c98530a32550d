using System.Globalization;
using System.Text;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>
/// One golden scheduling case as written in <c>tests/testassets/scheduling/&lt;case&gt;/case.yaml</c>
/// (the format is described in that folder's README.md): a cluster, the replicas already bound
/// in it, and the replicas to place one after another.
/// </summary>
public sealed class SchedulingCase
{
    public string Description { get; set; } = "";

    public CaseOptions? Scheduler { get; set; }

    public List<CaseNode> Nodes { get; set; } = [];

    public List<CaseReplica> Existing { get; set; } = [];

    public List<CasePlacement> Place { get; set; } = [];

    public static SchedulingCase Read(string path)
    {
        var deserializer = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build();
        using var reader = new StreamReader(path);
        return deserializer.Deserialize<SchedulingCase>(reader) ?? throw new InvalidDataException($"{path} is empty");
    }

    public Scheduler CreateScheduler()
    {
        var options = new SchedulerOptions();
        if (Scheduler is { } o)
        {
            options = new SchedulerOptions
            {
                Filters = o.Filters ?? options.Filters,
                Scorers = o.Scorers ?? options.Scorers,
                TieBreak = o.TieBreak switch
                {
                    null or "name" => TieBreak.Name,
                    "random" => TieBreak.Random,
                    _ => throw new InvalidDataException($"scheduler.tieBreak \"{o.TieBreak}\" is not name or random"),
                },
                Seed = o.Seed,
                Alternatives = o.Alternatives ?? options.Alternatives,
            };
        }

        return Orchestrator.ControlPlane.Scheduling.Scheduler.CreateDefault(options);
    }

    public ClusterSnapshot CreateSnapshot() =>
        ClusterSnapshot.Build(
            Nodes.Select(n => Cluster.Node(n.Name, n.Cpu, n.Memory, n.Ports, string.Join(",", n.Drivers), string.Join(",", n.Labels.Select(l => $"{l.Key}={l.Value}")), ParseState(n.State), n.Cordoned, n.Reason, n.CapacityCpu, n.CapacityMemory)),
            Existing.Select(r => Cluster.Bound(r.Id, r.Node, r.Owner, r.Cpu, r.Memory, ParsePhase(r.Phase), r.Retrying, ParseDesired(r.Desired), string.Join(",", r.HostPorts.Select(p => $"{p.Key}={p.Value}")))));

    /// <summary>Every replica to place, in order: an entry with <c>replicas: 3</c> and id <c>web</c> gives web-1, web-2, web-3.</summary>
    public IEnumerable<(string Id, OwnerRef? Owner, ReplicaTemplate Template)> Replicas()
    {
        foreach (var entry in Place)
        {
            var owner = Cluster.Owner(entry.Owner ?? "service/" + entry.Id);
            var ids = entry.Replicas is { } count ? Enumerable.Range(1, count).Select(i => $"{entry.Id}-{i}") : [entry.Id];
            foreach (var id in ids)
            {
                var template = Cluster.Template(entry.Cpu, entry.Memory, Cluster.ParseDriver(entry.Driver), string.Join(",", entry.Ports), string.Join(";", entry.Constraints), ParseStrategy(entry.Strategy), entry.MaxPerNode, entry.SpreadBy);
                yield return (id, owner, template);
            }
        }
    }

    /// <summary>Places the replicas one after another, binding each the way the placement loop does, and writes what happened.</summary>
    public string Run()
    {
        var scheduler = CreateScheduler();
        var snapshot = CreateSnapshot();
        var text = new StringBuilder();
        foreach (var (id, owner, template) in Replicas())
        {
            var request = new PlacementRequest(id, owner, template);
            var (decision, verdicts) = scheduler.Explain(request, snapshot, Cluster.Now);
            Write(text, request, decision, verdicts);
            if (decision.Node is { } node)
            {
                var spec = new ReplicaSpec { Owner = owner, Template = template, Node = node, Desired = DesiredState.Run };
                foreach (var (name, port) in decision.HostPorts)
                {
                    spec.HostPorts[name] = port;
                }

                snapshot.SetReplica(id, spec, new ReplicaStatus { Phase = Phase.Scheduled, Placement = decision.Explanation });
            }
        }

        text.Append("== after\n");
        WriteTable(text, snapshot.Nodes.Select(n => (n.Name, Usage(n), "")).ToList());
        return text.ToString();
    }

    private static void Write(StringBuilder text, PlacementRequest request, PlacementDecision decision, IReadOnlyList<NodeVerdict> verdicts)
    {
        var owner = request.Owner.Length == 0 ? "" : $" of {request.Owner}";
        var ports = decision.HostPorts.Count == 0 ? "" : " with host ports " + string.Join(", ", decision.HostPorts.Select(p => $"{p.Key} {p.Value}"));
        text.Append(CultureInfo.InvariantCulture, $"== {request.ReplicaId}{owner}: {(decision.Node is { } node ? "placed on " + node + ports : "pending")}\n");
        text.Append(CultureInfo.InvariantCulture, $"message: {decision.Explanation.Message}\n");
        var explanation = decision.Explanation;
        if (explanation.Rejected.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"rejected: {string.Join(", ", explanation.Rejected.Select(r => $"{r.Nodes} {r.Rule}"))}\n");
        }

        if (explanation.Chosen is { } chosen)
        {
            text.Append(CultureInfo.InvariantCulture, $"chosen: {Score(chosen)}\n");
        }

        foreach (var alternative in explanation.Alternatives)
        {
            text.Append(CultureInfo.InvariantCulture, $"alternative: {Score(alternative)}\n");
        }

        text.Append("nodes:\n");
        WriteTable(text, verdicts.Select(v => (v.Node, v.Rule ?? "fits " + Number(v.Score!.Total), v.Detail)).ToList());
    }

    private static void WriteTable(StringBuilder text, List<(string Node, string Verdict, string Detail)> rows)
    {
        var nodeWidth = rows.Count == 0 ? 0 : rows.Max(r => r.Node.Length);
        var verdictWidth = rows.Count == 0 ? 0 : rows.Max(r => r.Verdict.Length);
        foreach (var (node, verdict, detail) in rows)
        {
            var line = detail.Length == 0 ? $"  {node.PadRight(nodeWidth)}  {verdict}" : $"  {node.PadRight(nodeWidth)}  {verdict.PadRight(verdictWidth)}  {detail}";
            text.Append(line.TrimEnd()).Append('\n');
        }
    }

    private static string Score(NodeScore score) =>
        $"{score.Node} {Number(score.Total)} = {string.Join(", ", score.Terms.Select(t => $"{t.Scorer} {Number(t.Score)} x{Number(t.Weight)}"))}";

    private static string Usage(SchedulingNode node) =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"cpu {Quantity.FormatCpu(node.CpuUsed)} of {Quantity.FormatCpu(node.AllocatableCpu)}, memory {Quantity.FormatMemoryRounded(node.MemoryUsed)} of {Quantity.FormatMemoryRounded(node.AllocatableMemory)}, {node.Replicas} {(node.Replicas == 1 ? "replica" : "replicas")}, {node.FreePorts} of {node.PortRangeSize} host ports free");

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static NodeState ParseState(string state) => state switch
    {
        "ready" => NodeState.Ready,
        "not-ready" => NodeState.NotReady,
        "down" => NodeState.Down,
        "unreported" => NodeState.Unspecified,
        _ => throw new InvalidDataException($"node state \"{state}\" is not ready, not-ready, down or unreported"),
    };

    private static Phase ParsePhase(string phase) =>
        Enum.TryParse<Phase>(phase, ignoreCase: true, out var value) && value != Phase.Unspecified
            ? value
            : throw new InvalidDataException($"phase \"{phase}\" is not a replica phase (pending, scheduled, starting, running, ready, draining, succeeded, failed, lost)");

    private static DesiredState ParseDesired(string desired) =>
        Enum.TryParse<DesiredState>(desired, ignoreCase: true, out var value) && value != DesiredState.Unspecified
            ? value
            : throw new InvalidDataException($"desired \"{desired}\" is not run, drain or stop");

    private static PlacementStrategy ParseStrategy(string strategy) => strategy switch
    {
        "" => PlacementStrategy.Unspecified,
        "spread" => PlacementStrategy.Spread,
        "binpack" => PlacementStrategy.Binpack,
        _ => throw new InvalidDataException($"strategy \"{strategy}\" is not spread or binpack"),
    };
}

public sealed class CaseOptions
{
    public List<string>? Filters { get; set; }

    public Dictionary<string, double>? Scorers { get; set; }

    public string? TieBreak { get; set; }

    public int Seed { get; set; }

    public int? Alternatives { get; set; }
}

public sealed class CaseNode
{
    public string Name { get; set; } = "";

    public string Cpu { get; set; } = "4";

    public string Memory { get; set; } = "8Gi";

    public string CapacityCpu { get; set; } = "";

    public string CapacityMemory { get; set; } = "";

    public string Ports { get; set; } = "20000-20009";

    public List<string> Drivers { get; set; } = ["docker", "process"];

    public Dictionary<string, string> Labels { get; set; } = [];

    public string State { get; set; } = "ready";

    public string Reason { get; set; } = "";

    public bool Cordoned { get; set; }
}

public sealed class CaseReplica
{
    public string Id { get; set; } = "";

    public string Owner { get; set; } = "";

    public string Node { get; set; } = "";

    public string Cpu { get; set; } = "0";

    public string Memory { get; set; } = "0";

    public Dictionary<string, int> HostPorts { get; set; } = [];

    public string Phase { get; set; } = "running";

    public bool Retrying { get; set; }

    public string Desired { get; set; } = "run";
}

public sealed class CasePlacement
{
    public string Id { get; set; } = "";

    public int? Replicas { get; set; }

    public string? Owner { get; set; }

    public string Cpu { get; set; } = "250m";

    public string Memory { get; set; } = "128Mi";

    public string Driver { get; set; } = "";

    public List<string> Ports { get; set; } = [];

    public List<string> Constraints { get; set; } = [];

    public string Strategy { get; set; } = "";

    public int MaxPerNode { get; set; }

    public string SpreadBy { get; set; } = "";
}
