using Orchestrator.ControlPlane.Controllers;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

public sealed class EndpointsPlannerTests
{
    internal static Service Web(params PortSpec[] ports)
    {
        var template = new ReplicaTemplate { Driver = Driver.Process };
        template.Ports.AddRange(ports.Length > 0 ? ports : [new PortSpec { Name = "http", Port = 8080, Published = 80, Protocol = Protocol.Http }]);
        return new Service { Meta = new ObjectMeta { Name = "web" }, Spec = new ServiceSpec { Name = "web", Replicas = 3, Template = template } };
    }

    internal static Replica R(string id, string node = "node-1", Phase phase = Phase.Ready, DesiredState desired = DesiredState.Run, string address = "127.0.0.2", params (string Port, int HostPort)[] ports)
    {
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = id },
            Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Node = node, Desired = desired, Generation = 1 },
            Status = new ReplicaStatus { Phase = phase },
        };
        foreach (var (port, hostPort) in ports.Length > 0 ? ports : [("http", 20000 + Math.Abs(id.GetHashCode(StringComparison.Ordinal) % 900))])
        {
            replica.Spec.HostPorts[port] = hostPort;
            replica.Status.Endpoints[port] = new Endpoint { Address = address, Port = hostPort };
        }

        return replica;
    }

    internal static Dictionary<string, Node> Nodes(params (string Name, NodeState State)[] nodes) =>
        nodes.ToDictionary(
            n => n.Name,
            n => new Node { Meta = new ObjectMeta { Name = n.Name }, Info = new NodeInfo { Address = "127.0.0.9" }, Status = new NodeStatus { State = n.State } },
            StringComparer.Ordinal);

    private static readonly Dictionary<string, Node> OneReadyNode = Nodes(("node-1", NodeState.Ready));

    private static List<string> Ids(ServiceEndpoints e, int port = 0) => [.. e.Ports[port].Endpoints.Select(x => x.Replica)];

    [Fact]
    public void Every_port_carries_the_service_load_balancing_and_a_change_of_it_is_a_new_set()
    {
        var service = Web(
            new PortSpec { Name = "http", Port = 8080, Published = 80, Protocol = Protocol.Http },
            new PortSpec { Name = "admin", Port = 9090, Published = 90, Protocol = Protocol.Tcp });
        var replicas = new[] { R("web-aaaaa", ports: [("http", 20001), ("admin", 20002)]) };
        var before = EndpointsPlanner.Compute(service, replicas, OneReadyNode)!;

        service.Spec.LoadBalancing = LoadBalancing.LeastRequests;
        var after = EndpointsPlanner.Compute(service, replicas, OneReadyNode)!;

        Assert.All(before.Ports, p => Assert.Equal(LoadBalancing.Unspecified, p.LoadBalancing));
        Assert.All(after.Ports, p => Assert.Equal(LoadBalancing.LeastRequests, p.LoadBalancing));
        Assert.False(EndpointsPlanner.SameSet(before, after));
    }

    [Fact]
    public void Only_ready_replicas_are_endpoints()
    {
        var replicas = new[]
        {
            R("web-aaaaa", phase: Phase.Ready),
            R("web-bbbbb", phase: Phase.Running),
            R("web-ccccc", phase: Phase.Starting),
            R("web-ddddd", phase: Phase.Failed),
            R("web-eeeee", phase: Phase.Pending),
        };

        var e = EndpointsPlanner.Compute(Web(), replicas, OneReadyNode)!;

        Assert.Equal(["web-aaaaa"], Ids(e));
    }

    [Fact]
    public void Replicas_being_drained_or_stopped_are_not_endpoints()
    {
        var replicas = new[]
        {
            R("web-aaaaa"),
            R("web-bbbbb", desired: DesiredState.Drain),
            R("web-ccccc", desired: DesiredState.Stop),
            R("web-ddddd", phase: Phase.Draining, desired: DesiredState.Drain),
        };

        var e = EndpointsPlanner.Compute(Web(), replicas, OneReadyNode)!;

        Assert.Equal(["web-aaaaa"], Ids(e));
    }

    [Fact]
    public void Lost_replicas_are_not_endpoints()
    {
        var e = EndpointsPlanner.Compute(Web(), [R("web-aaaaa", phase: Phase.Lost), R("web-bbbbb")], OneReadyNode)!;

        Assert.Equal(["web-bbbbb"], Ids(e));
    }

    [Fact]
    public void Replicas_on_a_node_that_is_not_ready_down_or_gone_are_not_endpoints()
    {
        var nodes = Nodes(("node-1", NodeState.Ready), ("node-2", NodeState.NotReady), ("node-3", NodeState.Down), ("node-4", NodeState.Unspecified));
        var replicas = new[] { R("web-aaaaa", "node-1"), R("web-bbbbb", "node-2"), R("web-ccccc", "node-3"), R("web-ddddd", "node-4"), R("web-eeeee", "node-5"), R("web-fffff", "") };

        var e = EndpointsPlanner.Compute(Web(), replicas, nodes)!;

        Assert.Equal(["web-aaaaa"], Ids(e));
    }

    [Fact]
    public void Endpoints_are_grouped_per_port_of_the_template_with_its_published_port_and_protocol()
    {
        var service = Web(
            new PortSpec { Name = "http", Port = 8080, Published = 80, Protocol = Protocol.Http },
            new PortSpec { Name = "admin", Port = 9000, Protocol = Protocol.Tcp });
        var replicas = new[]
        {
            R("web-aaaaa", ports: [("http", 20001), ("admin", 20002)]),
            R("web-bbbbb", address: "127.0.0.3", ports: [("http", 21001), ("admin", 21002)]),
        };

        var e = EndpointsPlanner.Compute(service, replicas, OneReadyNode)!;

        Assert.Equal("web", e.Service);
        Assert.Equal(0, e.Version);
        Assert.Equal(["http", "admin"], e.Ports.Select(p => p.Port));
        Assert.Equal(80, e.Ports[0].Published);
        Assert.Equal(Protocol.Http, e.Ports[0].Protocol);
        Assert.Equal(0, e.Ports[1].Published);
        Assert.Equal(Protocol.Tcp, e.Ports[1].Protocol);
        Assert.Equal(["127.0.0.2:20001", "127.0.0.3:21001"], e.Ports[0].Endpoints.Select(x => $"{x.Endpoint.Address}:{x.Endpoint.Port}"));
        Assert.Equal(["127.0.0.2:20002", "127.0.0.3:21002"], e.Ports[1].Endpoints.Select(x => $"{x.Endpoint.Address}:{x.Endpoint.Port}"));
        Assert.All(e.Ports.SelectMany(p => p.Endpoints), x => Assert.Equal("node-1", x.Node));
    }

    [Fact]
    public void A_replica_without_a_reported_endpoint_uses_its_node_address_and_host_port()
    {
        var replica = R("web-aaaaa", ports: [("http", 20005)]);
        replica.Status.Endpoints.Clear();

        var e = EndpointsPlanner.Compute(Web(), [replica], OneReadyNode)!;

        Assert.Equal("127.0.0.9:20005", $"{e.Ports[0].Endpoints[0].Endpoint.Address}:{e.Ports[0].Endpoints[0].Endpoint.Port}");
    }

    [Fact]
    public void A_service_without_ready_replicas_has_its_ports_with_no_endpoints()
    {
        var e = EndpointsPlanner.Compute(Web(), [], OneReadyNode)!;

        Assert.Equal("http", Assert.Single(e.Ports).Port);
        Assert.Empty(e.Ports[0].Endpoints);
    }

    [Fact]
    public void A_deleted_service_has_no_endpoints()
    {
        Assert.Null(EndpointsPlanner.Compute(null, [R("web-aaaaa")], OneReadyNode));
    }

    [Fact]
    public void The_result_does_not_depend_on_the_order_of_the_replicas()
    {
        var replicas = Enumerable.Range(0, 20)
            .Select(i => R($"web-{i:00000}", address: $"127.0.0.{2 + (i % 3)}", ports: [("http", 20000 + (i * 7 % 13))]))
            .ToList();
        var first = EndpointsPlanner.Compute(Web(), replicas, OneReadyNode)!;
        var random = new Random(7);
        for (var round = 0; round < 10; round++)
        {
            var shuffled = replicas.OrderBy(_ => random.Next()).ToList();
            var again = EndpointsPlanner.Compute(Web(), shuffled, OneReadyNode)!;
            Assert.Equal(first, again);
        }

        var order = first.Ports[0].Endpoints.Select(x => (x.Endpoint.Address, x.Endpoint.Port, x.Replica)).ToList();
        Assert.Equal(order.OrderBy(x => x.Address, StringComparer.Ordinal).ThenBy(x => x.Port).ThenBy(x => x.Replica, StringComparer.Ordinal), order);
    }

    [Fact]
    public void The_same_set_with_another_version_is_unchanged_and_a_different_set_is_changed()
    {
        var a = EndpointsPlanner.Compute(Web(), [R("web-aaaaa"), R("web-bbbbb")], OneReadyNode)!;
        var stored = a.Clone();
        stored.Version = 42;
        var fewer = EndpointsPlanner.Compute(Web(), [R("web-aaaaa")], OneReadyNode)!;

        Assert.True(EndpointsPlanner.SameSet(stored, a));
        Assert.False(EndpointsPlanner.SameSet(stored, fewer));
        Assert.False(EndpointsPlanner.SameSet(stored, null));
        Assert.True(EndpointsPlanner.SameSet(null, null));
    }
}
