using Orchestrator.NodeAgent.Proxy;
using Orchestrator.V1;
using static Orchestrator.NodeAgent.Tests.Proxy.MeshSnapshots;

namespace Orchestrator.NodeAgent.Tests.Proxy;

public sealed class MeshPlanTests
{
    private static System.Collections.Immutable.ImmutableSortedDictionary<int, MeshRoute> Routes(params ServiceEndpoints[] services) => MeshRouteTable.Compute(Snapshot(1, services)).Routes;

    private static ServiceEndpoints Web(int published = 8080, LoadBalancing balancing = LoadBalancing.RoundRobin, params int[] ports) =>
        Service("web", Port("http", published, Protocol.Http, balancing, [.. ports.Select(p => ("127.0.0.2", p))]));

    private static ServiceEndpoints Db(params int[] ports) =>
        Service("db", Port("pg", 5432, Protocol.Tcp, LoadBalancing.RoundRobin, [.. ports.Select(p => ("127.0.0.2", p))]));

    private static string Show(MeshPlan plan) =>
        $"open [{string.Join(",", plan.Open.Select(r => r.Published))}] update [{string.Join(",", plan.Update.Select(r => r.Published))}] close [{string.Join(",", plan.Close.Select(r => r.Published))}]";

    [Fact]
    public void The_first_snapshot_opens_every_route()
    {
        Assert.Equal("open [5432,8080] update [] close []", Show(MeshPlan.Diff(Routes(), Routes(Web(ports: 20001), Db(20002)))));
    }

    [Fact]
    public void The_same_routes_again_touch_nothing()
    {
        var plan = MeshPlan.Diff(Routes(Web(ports: 20001), Db(20002)), Routes(Web(ports: 20001), Db(20002)));

        Assert.True(plan.IsEmpty);
    }

    [Fact]
    public void New_endpoints_of_one_service_update_its_listener_alone()
    {
        Assert.Equal("open [] update [8080] close []", Show(MeshPlan.Diff(Routes(Web(ports: 20001), Db(20002)), Routes(Web(ports: [20001, 20003]), Db(20002)))));
    }

    [Fact]
    public void A_new_balancing_policy_is_an_update_not_a_reopen()
    {
        Assert.Equal("open [] update [8080] close []", Show(MeshPlan.Diff(Routes(Web(ports: 20001)), Routes(Web(balancing: LoadBalancing.LeastRequests, ports: 20001)))));
    }

    [Fact]
    public void A_removed_service_closes_its_listener_and_leaves_the_others()
    {
        Assert.Equal("open [] update [] close [5432]", Show(MeshPlan.Diff(Routes(Web(ports: 20001), Db(20002)), Routes(Web(ports: 20001)))));
    }

    [Fact]
    public void A_published_port_change_closes_the_old_port_and_opens_the_new()
    {
        Assert.Equal("open [9090] update [] close [8080]", Show(MeshPlan.Diff(Routes(Web(ports: 20001), Db(20002)), Routes(Web(published: 9090, ports: 20001), Db(20002)))));
    }

    [Fact]
    public void A_protocol_change_on_one_port_closes_and_reopens_it()
    {
        var before = Routes(Service("web", Port("http", 8080, Protocol.Http, LoadBalancing.RoundRobin, ("127.0.0.2", 20001))));
        var after = Routes(Service("web", Port("http", 8080, Protocol.Tcp, LoadBalancing.RoundRobin, ("127.0.0.2", 20001))));

        Assert.Equal("open [8080] update [] close [8080]", Show(MeshPlan.Diff(before, after)));
    }
}
