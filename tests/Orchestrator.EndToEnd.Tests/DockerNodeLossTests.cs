using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// Node loss on the Docker runtime: a 2-node cluster runs busybox httpd containers on both nodes;
/// one agent goes away while its container keeps running. The control plane marks that replica
/// Lost after the grace and replaces it on the other node; when the agent comes back it is told
/// the container is no longer its own and stops it.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class DockerNodeLossTests(BusyboxImage docker) : IClassFixture<BusyboxImage>, IAsyncLifetime
{
    private const string Owner = "service/web";

    private readonly List<string> _replicaIds = [];
    private TestCluster? _cluster;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string WebService => docker.WebService(more: "placement: { strategy: spread }");

    public async ValueTask InitializeAsync() => _cluster = await docker.StartClusterAsync();

    public async ValueTask DisposeAsync() => await docker.StopClusterAsync(_cluster, _replicaIds);

    [Fact]
    public async Task A_node_whose_agent_vanishes_has_its_container_replaced_and_stopped_when_the_agent_returns()
    {
        var cluster = _cluster!;
        await cluster.ApplyAsync(WebService);
        var replicas = await cluster.WaitReadyAsync(Owner, 2);
        _replicaIds.AddRange(replicas.Select(r => r.Meta.Name));
        Assert.Equal(2, replicas.Select(r => r.Spec.Node).Distinct().Count());
        var victim = replicas[0];
        var survivor = replicas[1];
        var node = cluster.Cluster.Nodes.Single(n => n.Name == victim.Spec.Node);

        // The agent goes away; its container keeps running.
        await cluster.Cluster.StopNodeAsync(node, keepReplicas: true, Ct);
        Assert.Equal("running", Assert.Single(await docker.ContainersOfAsync([victim.Meta.Name])).State);

        // Lost after the grace, then replaced on the surviving node.
        await TestCluster.EventuallyAsync(
            async () => (await cluster.Api.ListAsync(new ListRequest { Kind = ObjectKind.Event }, cancellationToken: Ct)).Items.Select(o => o.Event).ToList(),
            events => events.Any(e => e.Object.Kind == "replica" && e.Object.Name == victim.Meta.Name && e.Reason == "NodeLost"),
            $"a NodeLost event on {victim.Meta.Name}",
            events => string.Join("; ", events.Select(e => $"{e.Object.Kind}/{e.Object.Name} {e.Reason}")));
        var healed = await cluster.WaitReadyAsync(Owner, 2);
        _replicaIds.AddRange(healed.Select(r => r.Meta.Name));
        Assert.DoesNotContain(healed, r => r.Meta.Name == victim.Meta.Name);
        Assert.All(healed, r => Assert.Equal(survivor.Spec.Node, r.Spec.Node));
        foreach (var replica in healed)
        {
            Assert.Equal(replica.Meta.Name, (await cluster.GetTextAsync(replica)).Trim());
        }

        // The agent returns, re-adopts the container and is told it is no longer its own: it stops it.
        await cluster.Cluster.StartNodeAsync(node, Ct);
        await TestCluster.EventuallyAsync(
            () => docker.ContainersOfAsync([victim.Meta.Name]),
            containers => containers.All(c => c.State != "running"),
            $"the old container of {victim.Meta.Name} to be stopped",
            containers => string.Join(", ", containers.Select(c => $"{c.Names.FirstOrDefault()} {c.State}")));
        await cluster.WaitNodesReadyAsync();
    }
}
