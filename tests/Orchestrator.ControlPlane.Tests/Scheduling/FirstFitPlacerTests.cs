using System.Collections.Immutable;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

public sealed class FirstFitPlacerTests
{
    private const long Mi = 1024 * 1024;
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly FirstFitPlacer _placer = new();

    private static Node N(string name, long cpu = 1000, long memory = 1024 * Mi, NodeState state = NodeState.Ready, bool cordoned = false, Driver[]? drivers = null, int firstPort = 20000, int lastPort = 20009)
    {
        var info = new NodeInfo { Allocatable = new Resources { CpuMillis = cpu, MemoryBytes = memory }, Ports = new PortRange { First = firstPort, Last = lastPort } };
        info.Drivers.AddRange(drivers ?? [Driver.Docker, Driver.Process]);
        return new Node { Meta = new ObjectMeta { Name = name }, Info = info, Spec = new NodeSpec { Cordoned = cordoned }, Status = new NodeStatus { State = state } };
    }

    private static ReplicaTemplate T(long cpu = 250, long memory = 128 * Mi, Driver driver = Driver.Docker, params string[] ports)
    {
        var template = new ReplicaTemplate { Driver = driver, Resources = new Resources { CpuMillis = cpu, MemoryBytes = memory } };
        template.Ports.AddRange(ports.Select((p, i) => new PortSpec { Name = p, Port = 8000 + i }));
        return template;
    }

    private static Replica Bound(string node, long cpu, long memory, Phase phase = Phase.Running, params int[] ports)
    {
        var replica = new Replica
        {
            Spec = new ReplicaSpec { Node = node, Template = T(cpu, memory) },
            Status = new ReplicaStatus { Phase = phase },
        };
        for (var i = 0; i < ports.Length; i++)
        {
            replica.Spec.HostPorts[$"p{i}"] = ports[i];
        }

        return replica;
    }

    [Fact]
    public void The_first_node_by_name_with_room_is_chosen_and_the_explanation_says_what_is_left()
    {
        var snapshot = ClusterSnapshot.Build([N("node-2"), N("node-1", cpu: 500, memory: 512 * Mi)], [Bound("node-1", 250, 256 * Mi)]);

        var decision = _placer.Place(T(), snapshot, Now);

        Assert.Equal("node-1", decision.Node);
        Assert.Equal("Scheduled on node-1: first node with room (0 cpu, 128Mi memory free after placing)", decision.Explanation.Message.Replace("0m", "0", StringComparison.Ordinal));
        Assert.Equal((2, 2, "node-1"), (decision.Explanation.NodesTotal, decision.Explanation.NodesFeasible, decision.Explanation.Chosen.Node));
        Assert.Empty(decision.Explanation.Rejected);
    }

    [Fact]
    public void The_message_names_the_cpu_and_memory_free_after_placing()
    {
        var snapshot = ClusterSnapshot.Build([N("node-1", cpu: 500, memory: 256 * Mi)], []);

        var decision = _placer.Place(T(), snapshot, Now);

        Assert.Equal("Scheduled on node-1: first node with room (250m cpu, 128Mi memory free after placing)", decision.Explanation.Message);
    }

    [Fact]
    public void No_node_fits_names_each_rejecting_rule_with_its_count()
    {
        var snapshot = ClusterSnapshot.Build(
            [N("node-1", memory: 64 * Mi), N("node-2", memory: 100 * Mi), N("node-3", drivers: [Driver.Process])],
            []);

        var decision = _placer.Place(T(), snapshot, Now);

        Assert.False(decision.Placed);
        Assert.Equal("0/3 nodes fit: 2 insufficient memory, 1 missing driver docker", decision.Explanation.Message);
        Assert.Equal([("insufficient memory", 2), ("missing driver docker", 1)], decision.Explanation.Rejected.Select(r => (r.Rule, r.Nodes)));
        Assert.Equal((3, 0), (decision.Explanation.NodesTotal, decision.Explanation.NodesFeasible));
        Assert.Empty(decision.HostPorts);
    }

    [Fact]
    public void Not_ready_cordoned_and_full_nodes_are_passed_over()
    {
        var snapshot = ClusterSnapshot.Build(
            [N("a", state: NodeState.NotReady), N("b", cordoned: true), N("c", cpu: 1000), N("d")],
            [Bound("c", 900, 0)]);

        var decision = _placer.Place(T(), snapshot, Now);

        Assert.Equal("d", decision.Node);
        Assert.Equal([("cordoned", 1), ("insufficient cpu", 1), ("not ready", 1)], decision.Explanation.Rejected.Select(r => (r.Rule, r.Nodes)));
        Assert.Equal((4, 1), (decision.Explanation.NodesTotal, decision.Explanation.NodesFeasible));
    }

    [Fact]
    public void Ended_replicas_free_their_resources_but_every_bound_replica_keeps_its_ports()
    {
        var snapshot = ClusterSnapshot.Build(
            [N("node-1", cpu: 300, firstPort: 20000, lastPort: 20002)],
            [Bound("node-1", 300, 0, Phase.Succeeded, 20000), Bound("node-1", 0, 0, Phase.Running, 20002)]);

        var decision = _placer.Place(T(ports: ["http"]), snapshot, Now);

        Assert.Equal("node-1", decision.Node);
        Assert.Equal(new Dictionary<string, int> { ["http"] = 20001 }, decision.HostPorts);
    }

    [Fact]
    public void Ports_are_allocated_one_per_declared_port_without_clashing_with_earlier_bindings()
    {
        var snapshot = ClusterSnapshot.Build([N("node-1", firstPort: 20000, lastPort: 20004)], [Bound("node-1", 0, 0, Phase.Running, 20001)]);
        var template = T(cpu: 10, memory: Mi, ports: ["http", "admin"]);

        var first = _placer.Place(template, snapshot, Now);
        snapshot = snapshot.WithBinding(first.Node!, template.Resources, first.HostPorts.Values);
        var second = _placer.Place(template, snapshot, Now);
        snapshot = snapshot.WithBinding(second.Node!, template.Resources, second.HostPorts.Values);
        var third = _placer.Place(template, snapshot, Now);

        Assert.Equal(new Dictionary<string, int> { ["http"] = 20000, ["admin"] = 20002 }, first.HostPorts);
        Assert.Equal(new Dictionary<string, int> { ["http"] = 20003, ["admin"] = 20004 }, second.HostPorts);
        Assert.False(third.Placed);
        Assert.Equal("0/1 nodes fit: 1 no free host port", third.Explanation.Message);
    }

    [Fact]
    public void Binding_into_the_snapshot_never_overcommits_a_node()
    {
        var snapshot = ClusterSnapshot.Build([N("node-1", cpu: 1000, memory: 1024 * Mi), N("node-2", cpu: 500, memory: 1024 * Mi)], []);
        var template = T(cpu: 300, memory: 100 * Mi);
        var placed = new List<string>();
        while (_placer.Place(template, snapshot, Now) is { Node: { } node } decision)
        {
            placed.Add(node);
            snapshot = snapshot.WithBinding(node, template.Resources, decision.HostPorts.Values);
        }

        Assert.Equal(["node-1", "node-1", "node-1", "node-2"], placed);
        Assert.All(snapshot.Nodes, n => Assert.True(n.CpuFree >= 0 && n.MemoryFree >= 0));
        Assert.Equal(ImmutableArray.Create(100L, 200L), snapshot.Nodes.Select(n => n.CpuFree).ToImmutableArray());
    }

    [Fact]
    public void With_no_nodes_the_explanation_says_none_registered()
    {
        var decision = _placer.Place(T(), ClusterSnapshot.Build([], []), Now);

        Assert.Equal("0/0 nodes fit: no node has registered", decision.Explanation.Message);
    }
}
