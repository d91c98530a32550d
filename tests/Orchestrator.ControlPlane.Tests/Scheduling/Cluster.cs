using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>
/// Nodes, bound replicas and placement requests for scheduling tests, written in the units
/// people use (<c>250m</c>, <c>512Mi</c>, <c>20000-20009</c>, <c>zone=a,disk=ssd</c>).
/// </summary>
internal static class Cluster
{
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A registered node. <paramref name="ports"/> is <c>first-last</c> or empty for no range; <paramref name="cpu"/> and <paramref name="memory"/> empty leave allocatable unset.</summary>
    public static Node Node(
        string name,
        string cpu = "4",
        string memory = "8Gi",
        string ports = "20000-20009",
        string drivers = "docker,process",
        string labels = "",
        NodeState state = NodeState.Ready,
        bool cordoned = false,
        string reason = "",
        string capacityCpu = "",
        string capacityMemory = "")
    {
        var info = new NodeInfo { Address = "10.0.0.1" };
        if (cpu.Length > 0 || memory.Length > 0)
        {
            info.Allocatable = new Resources { CpuMillis = Cpu(cpu), MemoryBytes = Memory(memory) };
        }

        if (capacityCpu.Length > 0 || capacityMemory.Length > 0)
        {
            info.Capacity = new Resources { CpuMillis = Cpu(capacityCpu), MemoryBytes = Memory(capacityMemory) };
        }

        if (ports.Length > 0)
        {
            var (first, last) = PortRange(ports);
            info.Ports = new PortRange { First = first, Last = last };
        }

        info.Drivers.AddRange(drivers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseDriver));
        foreach (var (key, value) in Pairs(labels))
        {
            info.Labels[key] = value;
        }

        return new Node
        {
            Meta = new ObjectMeta { Name = name },
            Info = info,
            Spec = new NodeSpec { Cordoned = cordoned },
            Status = new NodeStatus { State = state, Message = reason },
        };
    }

    /// <summary>A replica bound to <paramref name="node"/>; <paramref name="ports"/> is <c>http=20000,admin=20001</c>.</summary>
    public static Replica Bound(
        string id,
        string node,
        string owner = "service/db",
        string cpu = "0",
        string memory = "0",
        Phase phase = Phase.Running,
        bool retrying = false,
        DesiredState desired = DesiredState.Run,
        string ports = "")
    {
        var spec = new ReplicaSpec
        {
            Owner = Owner(owner),
            Node = node,
            Desired = desired,
            Template = new ReplicaTemplate { Resources = new Resources { CpuMillis = Cpu(cpu), MemoryBytes = Memory(memory) } },
        };
        foreach (var (name, port) in Pairs(ports))
        {
            spec.HostPorts[name] = int.Parse(port, System.Globalization.CultureInfo.InvariantCulture);
        }

        var status = new ReplicaStatus { Phase = phase };
        if (retrying)
        {
            status.NextRetryAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(10));
        }

        return new Replica { Meta = new ObjectMeta { Name = id }, Spec = spec, Status = status };
    }

    /// <summary>The template of a replica to place; <paramref name="constraints"/> are separated by <c>;</c>.</summary>
    public static ReplicaTemplate Template(
        string cpu = "250m",
        string memory = "128Mi",
        Driver driver = Driver.Unspecified,
        string ports = "",
        string constraints = "",
        PlacementStrategy strategy = PlacementStrategy.Unspecified,
        int maxPerNode = 0,
        string spreadBy = "")
    {
        var template = new ReplicaTemplate
        {
            Driver = driver,
            Resources = new Resources { CpuMillis = Cpu(cpu), MemoryBytes = Memory(memory) },
            Placement = new Placement { Strategy = strategy, MaxPerNode = maxPerNode, SpreadBy = spreadBy },
        };
        var names = ports.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        template.Ports.AddRange(names.Select((name, i) => new PortSpec { Name = name, Port = 8080 + i }));
        template.Placement.Constraints.AddRange(constraints.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(ParseConstraint));
        return template;
    }

    public static PlacementRequest Request(
        string id = "web-1",
        string owner = "service/web",
        string cpu = "250m",
        string memory = "128Mi",
        Driver driver = Driver.Unspecified,
        string ports = "",
        string constraints = "",
        PlacementStrategy strategy = PlacementStrategy.Unspecified,
        int maxPerNode = 0,
        string spreadBy = "") =>
        new(id, Owner(owner), Template(cpu, memory, driver, ports, constraints, strategy, maxPerNode, spreadBy));

    public static ClusterSnapshot Snapshot(params Node[] nodes) => ClusterSnapshot.Build(nodes, []);

    public static ClusterSnapshot Snapshot(Node[] nodes, params Replica[] replicas) => ClusterSnapshot.Build(nodes, replicas);

    public static PlacementContext Context(PlacementRequest request, ClusterSnapshot snapshot) => new(request, snapshot);

    /// <summary>The node of <paramref name="name"/>, which the test expects to be registered.</summary>
    public static SchedulingNode NodeOf(this ClusterSnapshot snapshot, string name) =>
        snapshot.Node(name) ?? throw new InvalidOperationException($"no node {name} in the snapshot");

    /// <summary>Applies a decision the way the placement loop does: the replica now holds its resources and ports and counts toward its owner's spread.</summary>
    public static void Bind(this ClusterSnapshot snapshot, PlacementRequest request, PlacementDecision decision)
    {
        var node = decision.Node ?? throw new InvalidOperationException($"{request.ReplicaId} was not placed: {decision.Explanation.Message}");
        snapshot.SetAllocation(request.ReplicaId, new ReplicaAllocation(node, request.Owner, request.CpuMillis, request.MemoryBytes, [.. decision.HostPorts.Values], true, true));
    }

    /// <summary><c>service/web</c> as an owner; empty for none.</summary>
    public static OwnerRef? Owner(string owner)
    {
        if (owner.Length == 0)
        {
            return null;
        }

        var slash = owner.IndexOf('/', StringComparison.Ordinal);
        return slash < 0
            ? throw new ArgumentException($"owner \"{owner}\" is not kind/name", nameof(owner))
            : new OwnerRef { Kind = owner[..slash], Name = owner[(slash + 1)..] };
    }

    public static long Cpu(string text) => text.Length == 0 ? 0 : Quantity.ParseCpu(text);

    public static long Memory(string text) => text.Length == 0 ? 0 : Quantity.ParseMemory(text);

    public static (int First, int Last) PortRange(string text)
    {
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var first = int.Parse(dash < 0 ? text : text[..dash], System.Globalization.CultureInfo.InvariantCulture);
        var last = dash < 0 ? first : int.Parse(text[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        return (first, last);
    }

    public static Driver ParseDriver(string name) => name switch
    {
        "docker" => Driver.Docker,
        "process" => Driver.Process,
        "" or "unspecified" => Driver.Unspecified,
        _ => throw new ArgumentException($"driver \"{name}\" is not docker or process", nameof(name)),
    };

    public static Constraint ParseConstraint(string text) =>
        ConstraintText.TryParse(text, out var constraint, out var error) ? constraint : throw new ArgumentException(error, nameof(text));

    /// <summary><c>zone=a,disk=ssd</c> as pairs.</summary>
    private static IEnumerable<(string Key, string Value)> Pairs(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2, StringSplitOptions.TrimEntries))
            .Select(p => (p[0], p.Length > 1 ? p[1] : ""));
}
