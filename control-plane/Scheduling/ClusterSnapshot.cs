using Orchestrator.ControlPlane.Nodes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// One node as placement sees it: what it offers, whether it takes work, and what the
/// replicas bound to it use. Filters and scorers only read it; <see cref="ClusterSnapshot"/>
/// changes it between decisions.
/// </summary>
public sealed class SchedulingNode
{
    private readonly Dictionary<int, int> _ports = [];

    internal SchedulingNode(string name) => Name = name;

    public string Name { get; }

    /// <summary>What the agent said when it registered; null while the node is only known from replicas bound to it.</summary>
    public NodeInfo? Info { get; internal set; }

    public bool Cordoned { get; internal set; }

    public NodeState State { get; internal set; }

    /// <summary>Why the node is in its state, for explanations (from its status).</summary>
    public string StateReason { get; internal set; } = "";

    public long AllocatableCpu { get; private set; }

    public long AllocatableMemory { get; private set; }

    /// <summary>Millicores requested by the replicas bound here that still hold resources.</summary>
    public long CpuUsed { get; internal set; }

    /// <summary>Bytes requested by the replicas bound here that still hold resources.</summary>
    public long MemoryUsed { get; internal set; }

    /// <summary>Replicas bound here that still hold resources.</summary>
    public int Replicas { get; internal set; }

    public long CpuFree => AllocatableCpu - CpuUsed;

    public long MemoryFree => AllocatableMemory - MemoryUsed;

    public int FirstPort { get; private set; }

    public int LastPort { get; private set; }

    /// <summary>Host ports of the node's range (0 when it has none).</summary>
    public int PortRangeSize => FirstPort > 0 && LastPort >= FirstPort ? LastPort - FirstPort + 1 : 0;

    /// <summary>Host ports of the range held by no replica.</summary>
    public int FreePorts { get; private set; }

    /// <summary>Drivers offered, one bit per <see cref="Driver"/> value.</summary>
    public int DriverMask { get; private set; }

    /// <summary>Mod revision of the node's allocation key (0 before its first binding): bindings compare-and-swap on it.</summary>
    public long AllocationRevision { get; internal set; }

    public bool IsPortUsed(int port) => _ports.ContainsKey(port);

    public bool Offers(Driver driver) => (DriverMask & (1 << (int)driver)) != 0;

    public string? Label(string key) => Info is not null && Info.Labels.TryGetValue(key, out var value) ? value : null;

    internal void SetInfo(NodeInfo? info)
    {
        Info = info;
        var allocatable = info?.Allocatable ?? info?.Capacity;
        AllocatableCpu = allocatable?.CpuMillis ?? 0;
        AllocatableMemory = allocatable?.MemoryBytes ?? 0;
        FirstPort = info?.Ports?.First ?? 0;
        LastPort = info?.Ports?.Last ?? 0;
        DriverMask = 0;
        foreach (var driver in info?.Drivers ?? [])
        {
            DriverMask |= 1 << (int)driver;
        }

        FreePorts = PortRangeSize - _ports.Keys.Count(InRange);
    }

    internal void HoldPort(int port)
    {
        if (_ports.TryGetValue(port, out var holders))
        {
            _ports[port] = holders + 1;
            return;
        }

        _ports[port] = 1;
        if (InRange(port))
        {
            FreePorts--;
        }
    }

    internal void ReleasePort(int port)
    {
        if (!_ports.TryGetValue(port, out var holders))
        {
            return;
        }

        if (holders > 1)
        {
            _ports[port] = holders - 1;
            return;
        }

        _ports.Remove(port);
        if (InRange(port))
        {
            FreePorts++;
        }
    }

    /// <summary>The lowest free ports of the range, one per name, in order; null if the range runs out.</summary>
    public Dictionary<string, int>? AllocatePorts(IReadOnlyList<string> names)
    {
        var result = new Dictionary<string, int>(names.Count, StringComparer.Ordinal);
        if (names.Count == 0)
        {
            return result;
        }

        if (FreePorts < names.Count)
        {
            return null;
        }

        var next = FirstPort;
        foreach (var name in names)
        {
            while (next <= LastPort && _ports.ContainsKey(next))
            {
                next++;
            }

            if (next > LastPort)
            {
                return null;
            }

            result[name] = next++;
        }

        return result;
    }

    private bool InRange(int port) => port >= FirstPort && port <= LastPort && FirstPort > 0;

    internal SchedulingNode Clone()
    {
        var copy = new SchedulingNode(Name)
        {
            Cordoned = Cordoned,
            State = State,
            StateReason = StateReason,
            CpuUsed = CpuUsed,
            MemoryUsed = MemoryUsed,
            Replicas = Replicas,
            AllocationRevision = AllocationRevision,
        };
        foreach (var (port, holders) in _ports)
        {
            copy._ports[port] = holders;
        }

        copy.SetInfo(Info);
        return copy;
    }
}

/// <summary>What one bound replica takes from its node, as the snapshot counted it.</summary>
/// <param name="HoldsResources">False once the replica ended (see <see cref="NodeStatusWriter.IsFinal"/>).</param>
/// <param name="Spreads">Counts toward its owner's spread: it holds resources and is meant to run.</param>
public sealed record ReplicaAllocation(
    string Node,
    string Owner,
    long CpuMillis,
    long MemoryBytes,
    int[] HostPorts,
    bool HoldsResources,
    bool Spreads);

/// <summary>Where one owner's (service's or job's) replicas run: the count per node.</summary>
public sealed class OwnerPlacement
{
    public Dictionary<SchedulingNode, int> PerNode { get; } = [];

    public int CountOn(SchedulingNode node) => PerNode.GetValueOrDefault(node);
}

/// <summary>
/// The cluster as the scheduler sees it: every registered node with its allocations, and
/// where each owner's replicas run. It is mutable on purpose and has one owner at a time
/// (the placement loop, or whoever built a copy): applying a binding costs O(1), where an
/// immutable copy per binding would cost O(nodes) and 150,000 bindings on 5,000 nodes would
/// copy 750 million node records. Filters and scorers only read it.
/// </summary>
public sealed class ClusterSnapshot
{
    private readonly Dictionary<string, SchedulingNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ReplicaAllocation> _replicas = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OwnerPlacement> _owners = new(StringComparer.Ordinal);
    private SchedulingNode[]? _sorted;

    /// <summary>Registered nodes, ordered by name (the order decisions visit them and break ties in).</summary>
    public IReadOnlyList<SchedulingNode> Nodes => _sorted ??= [.. _nodes.Values.Where(n => n.Info is not null).OrderBy(n => n.Name, StringComparer.Ordinal)];

    /// <summary>Bumped whenever room may have grown (a node joined or changed, a replica ended or went away), so replicas that did not fit are worth trying again.</summary>
    public long RoomVersion { get; private set; }

    public int BoundReplicas => _replicas.Count;

    public SchedulingNode? Node(string name) => _nodes.TryGetValue(name, out var node) && node.Info is not null ? node : null;

    public ReplicaAllocation? Allocation(string replica) => _replicas.GetValueOrDefault(replica);

    /// <summary>Where the replicas of <paramref name="owner"/> (<c>service/web</c>) run; null if none does.</summary>
    public OwnerPlacement? Owner(string owner) => _owners.GetValueOrDefault(owner);

    /// <summary>The owner key replicas are grouped by for spreading: <c>service/web</c>.</summary>
    public static string OwnerKey(OwnerRef? owner) => owner is null ? "" : owner.Kind + "/" + owner.Name;

    /// <summary>Adds or updates a node from its stored object (info and spec) and status.</summary>
    public void SetNode(string name, NodeInfo? info, bool cordoned, NodeStatus? status)
    {
        var node = GetOrAdd(name);
        var wasRegistered = node.Info is not null;
        var grew = info is not null && (!wasRegistered
            || (node.Cordoned && !cordoned)
            || (node.State != NodeState.Ready && status?.State == NodeState.Ready)
            || !Equals(node.Info, info));
        node.SetInfo(info);
        node.Cordoned = cordoned;
        node.State = status?.State ?? NodeState.Unspecified;
        node.StateReason = status is null ? "" : string.IsNullOrEmpty(status.Message) ? status.Reason : status.Message;
        if (wasRegistered != (info is not null))
        {
            _sorted = null;
        }

        if (grew)
        {
            RoomVersion++;
        }
    }

    /// <summary>Forgets a node's registration; replicas still bound to it keep counting if it returns.</summary>
    public void RemoveNode(string name)
    {
        if (_nodes.TryGetValue(name, out var node) && node.Info is not null)
        {
            node.SetInfo(null);
            _sorted = null;
        }
    }

    public void SetAllocationRevision(string name, long revision) => GetOrAdd(name).AllocationRevision = revision;

    /// <summary>Counts a replica from its spec and status (replacing what was counted for it before); an unbound replica counts nowhere.</summary>
    public void SetReplica(string id, ReplicaSpec? spec, ReplicaStatus? status)
    {
        if (spec is null || string.IsNullOrEmpty(spec.Node))
        {
            RemoveReplica(id);
            return;
        }

        var holds = !NodeStatusWriter.IsFinal(status);
        var resources = spec.Template?.Resources;
        var allocation = new ReplicaAllocation(
            spec.Node,
            OwnerKey(spec.Owner),
            resources?.CpuMillis ?? 0,
            resources?.MemoryBytes ?? 0,
            [.. spec.HostPorts.Values],
            holds,
            holds && spec.Desired == DesiredState.Run);
        SetAllocation(id, allocation);
    }

    /// <summary>Counts <paramref name="allocation"/> for <paramref name="id"/>, replacing what was counted before.</summary>
    public void SetAllocation(string id, ReplicaAllocation allocation)
    {
        if (_replicas.TryGetValue(id, out var old))
        {
            if (old == allocation || (old.Node == allocation.Node && old.Owner == allocation.Owner && old.CpuMillis == allocation.CpuMillis
                && old.MemoryBytes == allocation.MemoryBytes && old.HoldsResources == allocation.HoldsResources && old.Spreads == allocation.Spreads
                && old.HostPorts.AsSpan().SequenceEqual(allocation.HostPorts)))
            {
                return;
            }

            Release(old);
        }

        _replicas[id] = allocation;
        var node = GetOrAdd(allocation.Node);
        foreach (var port in allocation.HostPorts)
        {
            node.HoldPort(port);
        }

        if (allocation.HoldsResources)
        {
            node.CpuUsed += allocation.CpuMillis;
            node.MemoryUsed += allocation.MemoryBytes;
            node.Replicas++;
        }

        if (allocation.Spreads)
        {
            if (!_owners.TryGetValue(allocation.Owner, out var owner))
            {
                _owners[allocation.Owner] = owner = new OwnerPlacement();
            }

            owner.PerNode[node] = owner.PerNode.GetValueOrDefault(node) + 1;
        }
    }

    public void RemoveReplica(string id)
    {
        if (_replicas.Remove(id, out var old))
        {
            Release(old);
        }
    }

    /// <summary>A deep copy, for a dry run (<c>orc plan</c>) or an explanation that must not disturb the original.</summary>
    public ClusterSnapshot Clone()
    {
        var copy = new ClusterSnapshot { RoomVersion = RoomVersion };
        var map = new Dictionary<SchedulingNode, SchedulingNode>();
        foreach (var (name, node) in _nodes)
        {
            var clone = node.Clone();
            copy._nodes[name] = clone;
            map[node] = clone;
        }

        foreach (var (id, allocation) in _replicas)
        {
            copy._replicas[id] = allocation;
        }

        foreach (var (key, owner) in _owners)
        {
            var clone = new OwnerPlacement();
            foreach (var (node, count) in owner.PerNode)
            {
                clone.PerNode[map[node]] = count;
            }

            copy._owners[key] = clone;
        }

        return copy;
    }

    /// <summary>A snapshot of stored nodes and replicas (tests, explanations and dry runs outside the placement loop).</summary>
    public static ClusterSnapshot Build(IEnumerable<Node> nodes, IEnumerable<Replica> replicas)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(replicas);
        var snapshot = new ClusterSnapshot();
        foreach (var node in nodes)
        {
            snapshot.SetNode(node.Meta.Name, node.Info ?? new NodeInfo(), node.Spec?.Cordoned ?? false, node.Status);
        }

        foreach (var replica in replicas)
        {
            snapshot.SetReplica(replica.Meta?.Name ?? Guid.NewGuid().ToString("n"), replica.Spec, replica.Status);
        }

        return snapshot;
    }

    private SchedulingNode GetOrAdd(string name)
    {
        if (!_nodes.TryGetValue(name, out var node))
        {
            _nodes[name] = node = new SchedulingNode(name);
        }

        return node;
    }

    private void Release(ReplicaAllocation old)
    {
        var node = GetOrAdd(old.Node);
        foreach (var port in old.HostPorts)
        {
            node.ReleasePort(port);
        }

        if (old.HoldsResources)
        {
            node.CpuUsed -= old.CpuMillis;
            node.MemoryUsed -= old.MemoryBytes;
            node.Replicas--;
        }

        if (old.Spreads && _owners.TryGetValue(old.Owner, out var owner))
        {
            var count = owner.PerNode.GetValueOrDefault(node) - 1;
            if (count > 0)
            {
                owner.PerNode[node] = count;
            }
            else
            {
                owner.PerNode.Remove(node);
                if (owner.PerNode.Count == 0)
                {
                    _owners.Remove(old.Owner);
                }
            }
        }

        RoomVersion++;
    }
}
