using Orchestrator.NodeAgent.Simulation;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>Simulated nodes against a real control plane on SQLite, through the real node stream.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class SimulatedNodeTests
{
    private const string Spec = """
        kind: Service
        name: web
        replicas: 200
        driver: process
        command: ["sleep", "1000"]
        resources: { cpu: 100m, memory: 64Mi }
        ports:
          - { name: http, port: 8080 }
        health:
          readiness: { http: /, port: http }
        """;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fifty_simulated_nodes_register_run_two_hundred_replicas_Ready_spread_evenly_and_a_killed_one_goes_NotReady()
    {
        await using var cp = await ControlPlaneFixture.StartAsync(controllers: true, cancellationToken: Token);
        await using var fleet = await SimulatedFleet.StartAsync(
            new SimulatedFleetOptions { Nodes = 50, Servers = [cp.GrpcUrl], Zones = ["a", "b", "c"] },
            cancellationToken: Token);
        await fleet.WaitRegisteredAsync(Token).WaitAsync(TestCluster.Patience, Token);

        var nodes = (await cp.Client.ListAsync(new ListRequest { Kind = ObjectKind.Node }, cancellationToken: Token)).Items.Select(o => o.Node).ToList();
        Assert.Equal(50, nodes.Count);
        Assert.All(nodes, n => Assert.Equal(NodeState.Ready, n.Status.State));
        Assert.All(nodes, n => Assert.Equal("true", n.Info.Labels[SimulatedFleetOptions.SimulatedLabel]));
        Assert.Equal(17, nodes.Count(n => n.Info.Labels["zone"] == "a"));

        await cp.Client.ApplyAsync(new ApplyRequest { SourceName = "web.yaml", Content = Spec }, cancellationToken: Token);
        var ready = await TestCluster.EventuallyAsync(
            async () => (await cp.Client.ListAsync(new ListRequest { Kind = ObjectKind.Replica, Owner = "service/web" }, cancellationToken: Token)).Items.Select(o => o.Replica).ToList(),
            rs => rs.Count == 200 && rs.All(r => r.Status?.Phase == Phase.Ready),
            "200 Ready replicas of web",
            rs => string.Join(", ", rs.GroupBy(r => r.Status?.Phase ?? Phase.Unspecified).Select(g => $"{g.Count()} {g.Key}")));

        var perNode = ready.GroupBy(r => r.Spec.Node).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(50, perNode.Count);
        Assert.InRange(perNode.Values.Max() - perNode.Values.Min(), 0, 1);
        Assert.Equal(200, fleet.Nodes.Sum(n => n.RunningCount));
        var one = ready[0];
        var host = fleet[one.Spec.Node];
        Assert.Equal(host.Address, one.Status.Endpoints["http"].Address);
        Assert.Equal(one.Spec.HostPorts["http"], one.Status.Endpoints["http"].Port);

        // A killed node says nothing more; its lease runs out and the control plane marks it.
        var victim = fleet.Nodes[7].Name;
        fleet.Kill(victim);
        var lost = await TestCluster.EventuallyAsync(
            async () => (await cp.Client.GetAsync(new GetRequest { Kind = ObjectKind.Node, Name = victim }, cancellationToken: Token)).Object.Node,
            n => n.Status.State == NodeState.NotReady,
            $"{victim} to be NotReady",
            n => $"{n.Status.State} {n.Status.Reason}");
        Assert.Equal("HeartbeatsStopped", lost.Status.Reason);

        // Deleting the service stops every simulated replica on the nodes still alive.
        await cp.Client.DeleteAsync(new DeleteRequest { Kind = ObjectKind.Service, Name = "web" }, cancellationToken: Token);
        var killedRuns = fleet[victim].RunningCount;
        await TestCluster.EventuallyAsync(
            () => Task.FromResult(fleet.Nodes.Sum(n => n.RunningCount)),
            running => running == killedRuns,
            "the live nodes to stop their replicas",
            running => $"{running} still running");
    }
}
