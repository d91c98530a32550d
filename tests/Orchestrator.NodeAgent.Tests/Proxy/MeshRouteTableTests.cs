using Orchestrator.NodeAgent.Proxy;
using Orchestrator.V1;
using static Orchestrator.NodeAgent.Tests.Proxy.MeshSnapshots;

namespace Orchestrator.NodeAgent.Tests.Proxy;

public sealed class MeshRouteTableTests
{
    [Fact]
    public void Every_published_port_is_one_route_and_unpublished_ports_are_none()
    {
        var snapshot = Snapshot(7,
            Service("web",
                Port("http", 8080, endpoints: [("127.0.0.2", 20001), ("127.0.0.3", 21001)]),
                Port("metrics", 0, endpoints: [("127.0.0.2", 20002)])),
            Service("db", Port("pg", 5432, Protocol.Tcp, LoadBalancing.LeastRequests, ("127.0.0.2", 20003))));

        var table = MeshRouteTable.Compute(snapshot);

        Assert.Equal([5432, 8080], table.Routes.Keys);
        var web = table.Routes[8080];
        Assert.Equal(("web", "http", MeshProtocol.Http, BalancingPolicy.RoundRobin), (web.Service, web.Port, web.Protocol, web.Balancing));
        Assert.Equal(["127.0.0.2:20001", "127.0.0.3:21001"], web.Endpoints.Select(e => $"{e.Address}:{e.Port}"));
        var db = table.Routes[5432];
        Assert.Equal(("db", "pg", MeshProtocol.Tcp, BalancingPolicy.LeastRequests), (db.Service, db.Port, db.Protocol, db.Balancing));
        Assert.Empty(table.Conflicts);
    }

    [Theory]
    [InlineData(LoadBalancing.Unspecified, BalancingPolicy.RoundRobin)]
    [InlineData(LoadBalancing.RoundRobin, BalancingPolicy.RoundRobin)]
    [InlineData(LoadBalancing.LeastRequests, BalancingPolicy.LeastRequests)]
    [InlineData(LoadBalancing.PowerOfTwoChoices, BalancingPolicy.PowerOfTwoChoices)]
    public void The_service_load_balancing_picks_the_policy_and_unspecified_is_round_robin(LoadBalancing spec, BalancingPolicy expected) =>
        Assert.Equal(expected, MeshRouteTable.ToPolicy(spec));

    [Fact]
    public void A_published_port_with_no_ready_replica_is_still_a_route_with_no_endpoints()
    {
        var table = MeshRouteTable.Compute(Snapshot(3, Service("web", Port("http", 8080))));

        Assert.Empty(Assert.Single(table.Routes.Values).Endpoints);
    }

    [Fact]
    public void Two_services_claiming_one_port_leave_it_to_the_first_by_name_and_report_the_conflict()
    {
        var table = MeshRouteTable.Compute(Snapshot(3,
            Service("web", Port("http", 8080, endpoints: ("127.0.0.2", 20001))),
            Service("api", Port("http", 8080, endpoints: ("127.0.0.2", 20002)))));

        Assert.Equal("api", Assert.Single(table.Routes.Values).Service);
        Assert.Contains("published port 8080 is claimed by api/http and web/http", Assert.Single(table.Conflicts), StringComparison.Ordinal);
    }
}
