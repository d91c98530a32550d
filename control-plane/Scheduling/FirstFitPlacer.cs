using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// Places a replica on the first node, by name, that takes it: Ready, not cordoned, offers
/// the template's driver, has the cpu and memory free (allocatable minus what the replicas
/// bound to it request) and a free host port for every declared port. Every node is
/// checked, so the explanation counts each rejecting rule (the first rule a node fails).
/// A later scheduler replaces this with filters and scorers behind the same <see cref="IPlacer"/>.
/// </summary>
public sealed class FirstFitPlacer : IPlacer
{
    public const string NotReady = "not ready";
    public const string Cordoned = "cordoned";
    public const string InsufficientCpu = "insufficient cpu";
    public const string InsufficientMemory = "insufficient memory";
    public const string NoFreePort = "no free host port";

    public string Name => "first-fit";

    public PlacementDecision Place(ReplicaTemplate template, ClusterSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(snapshot);
        var rejected = new Dictionary<string, int>(StringComparer.Ordinal);
        NodeSnapshot? chosen = null;
        IReadOnlyDictionary<string, int>? chosenPorts = null;
        var feasible = 0;
        foreach (var node in snapshot.Nodes)
        {
            var rule = Check(template, node, out var ports);
            if (rule is not null)
            {
                rejected[rule] = rejected.GetValueOrDefault(rule) + 1;
                continue;
            }

            feasible++;
            if (chosen is null)
            {
                chosen = node;
                chosenPorts = ports;
            }
        }

        var explanation = new PlacementExplanation
        {
            DecidedAt = Timestamp.FromDateTimeOffset(now),
            NodesTotal = snapshot.Nodes.Length,
            NodesFeasible = feasible,
        };
        var counts = rejected.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).ToList();
        explanation.Rejected.AddRange(counts.Select(p => new RuleCount { Rule = p.Key, Nodes = p.Value }));

        if (chosen is null)
        {
            explanation.Message = snapshot.Nodes.Length == 0
                ? "0/0 nodes fit: no node has registered"
                : $"0/{snapshot.Nodes.Length} nodes fit: " + string.Join(", ", counts.Select(p => $"{p.Value} {p.Key}"));
            return new PlacementDecision(null, new Dictionary<string, int>(), explanation);
        }

        var resources = template.Resources ?? new Resources();
        explanation.Chosen = new NodeScore { Node = chosen.Name };
        explanation.Message = string.Create(
            CultureInfo.InvariantCulture,
            $"Scheduled on {chosen.Name}: first node with room ({Quantity.FormatCpu(chosen.CpuFree - resources.CpuMillis)} cpu, {Quantity.FormatMemoryRounded(chosen.MemoryFree - resources.MemoryBytes)} memory free after placing)");
        return new PlacementDecision(chosen.Name, chosenPorts!, explanation);
    }

    /// <summary>The first rule <paramref name="node"/> fails for <paramref name="template"/>, or null with the host ports it would get.</summary>
    public static string? Check(ReplicaTemplate template, NodeSnapshot node, out IReadOnlyDictionary<string, int> hostPorts)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(node);
        hostPorts = new Dictionary<string, int>();
        if (node.State != NodeState.Ready)
        {
            return NotReady;
        }

        if (node.Cordoned)
        {
            return Cordoned;
        }

        var driver = template.Driver == Driver.Unspecified ? Driver.Docker : template.Driver;
        if (!node.Info.Drivers.Contains(driver))
        {
            return "missing driver " + DriverName(driver);
        }

        var resources = template.Resources ?? new Resources();
        if (resources.CpuMillis > node.CpuFree)
        {
            return InsufficientCpu;
        }

        if (resources.MemoryBytes > node.MemoryFree)
        {
            return InsufficientMemory;
        }

        var ports = AllocatePorts(template, node);
        if (ports is null)
        {
            return NoFreePort;
        }

        hostPorts = ports;
        return null;
    }

    /// <summary>The lowest free port of the node's range for each declared port, in order; null if the range runs out.</summary>
    private static Dictionary<string, int>? AllocatePorts(ReplicaTemplate template, NodeSnapshot node)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (template.Ports.Count == 0)
        {
            return result;
        }

        var range = node.Info.Ports;
        if (range is null || range.First <= 0 || range.Last < range.First)
        {
            return null;
        }

        var next = range.First;
        foreach (var port in template.Ports)
        {
            while (next <= range.Last && node.PortsUsed.Contains(next))
            {
                next++;
            }

            if (next > range.Last)
            {
                return null;
            }

            result[port.Name] = next++;
        }

        return result;
    }

    private static string DriverName(Driver driver) => driver switch
    {
        Driver.Docker => "docker",
        Driver.Process => "process",
        _ => driver.ToString().ToLowerInvariant(),
    };
}
