using System.Collections.Immutable;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// One node as placement sees it: what it offers, whether it takes work, and what the
/// replicas bound to it already use. Immutable: placing a replica yields a new snapshot.
/// </summary>
/// <param name="CpuUsed">Millicores requested by the non-final replicas bound to the node.</param>
/// <param name="MemoryUsed">Bytes requested by the non-final replicas bound to the node.</param>
/// <param name="PortsUsed">Host ports held by any replica bound to the node.</param>
public sealed record NodeSnapshot(
    string Name,
    NodeInfo Info,
    bool Cordoned,
    NodeState State,
    long CpuUsed,
    long MemoryUsed,
    ImmutableHashSet<int> PortsUsed)
{
    /// <summary>What replicas may use: allocatable, or capacity when the agent did not say.</summary>
    public Resources Allocatable => Info.Allocatable ?? Info.Capacity ?? new Resources();

    public long CpuFree => Allocatable.CpuMillis - CpuUsed;

    public long MemoryFree => Allocatable.MemoryBytes - MemoryUsed;
}

/// <summary>The nodes placement chooses among, ordered by name, with their allocations.</summary>
public sealed class ClusterSnapshot
{
    public ClusterSnapshot(IEnumerable<NodeSnapshot> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        Nodes = nodes.OrderBy(n => n.Name, StringComparer.Ordinal).ToImmutableArray();
    }

    public ImmutableArray<NodeSnapshot> Nodes { get; }

    /// <summary>
    /// Builds a snapshot from stored objects. A replica counts against its node's cpu and
    /// memory until it ended (Succeeded or Failed); its host ports count as long as it exists.
    /// </summary>
    public static ClusterSnapshot Build(IEnumerable<Node> nodes, IEnumerable<Replica> replicas)
    {
        var cpu = new Dictionary<string, long>(StringComparer.Ordinal);
        var memory = new Dictionary<string, long>(StringComparer.Ordinal);
        var ports = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        foreach (var replica in replicas)
        {
            var node = replica.Spec?.Node;
            if (string.IsNullOrEmpty(node))
            {
                continue;
            }

            if (!ports.TryGetValue(node, out var held))
            {
                ports[node] = held = [];
            }

            held.UnionWith(replica.Spec!.HostPorts.Values);
            if (replica.Status?.Phase is Phase.Succeeded or Phase.Failed)
            {
                continue;
            }

            var resources = replica.Spec.Template?.Resources;
            cpu[node] = cpu.GetValueOrDefault(node) + (resources?.CpuMillis ?? 0);
            memory[node] = memory.GetValueOrDefault(node) + (resources?.MemoryBytes ?? 0);
        }

        return new ClusterSnapshot(nodes.Select(n => new NodeSnapshot(
            n.Meta.Name,
            n.Info ?? new NodeInfo(),
            n.Spec?.Cordoned ?? false,
            n.Status?.State ?? NodeState.Unspecified,
            cpu.GetValueOrDefault(n.Meta.Name),
            memory.GetValueOrDefault(n.Meta.Name),
            ports.TryGetValue(n.Meta.Name, out var p) ? p.ToImmutableHashSet() : [])));
    }

    /// <summary>The snapshot after binding a replica with <paramref name="resources"/> and <paramref name="hostPorts"/> to <paramref name="node"/>.</summary>
    public ClusterSnapshot WithBinding(string node, Resources? resources, IEnumerable<int> hostPorts) =>
        new(Nodes.Select(n => n.Name != node ? n : n with
        {
            CpuUsed = n.CpuUsed + (resources?.CpuMillis ?? 0),
            MemoryUsed = n.MemoryUsed + (resources?.MemoryBytes ?? 0),
            PortsUsed = n.PortsUsed.Union(hostPorts),
        }));
}
