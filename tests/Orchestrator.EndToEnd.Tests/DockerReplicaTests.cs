using Docker.DotNet.Models;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// A cluster on the Docker runtime running busybox httpd in containers with a mapped port: ready,
/// healed after <c>docker kill</c>, and gone from the daemon once the cluster stops.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class DockerReplicaTests(BusyboxImage docker) : IClassFixture<BusyboxImage>, IAsyncLifetime
{
    private const string Owner = "service/web";

    private readonly List<string> _replicaIds = [];
    private TestCluster? _cluster;

    /// <summary>
    /// httpd serves its replica id on the container port given in PORT (8080); the node maps a host
    /// port on its own address to it, which is the endpoint the probes and the test use.
    /// </summary>
    private string WebService => docker.WebService();

    public async ValueTask InitializeAsync() => _cluster = await docker.StartClusterAsync();

    public async ValueTask DisposeAsync() => await docker.StopClusterAsync(_cluster, _replicaIds);

    [Fact]
    public async Task Containers_become_ready_are_restarted_after_docker_kill_and_removed_when_the_cluster_stops()
    {
        var cluster = _cluster!;
        await cluster.ApplyAsync(WebService);
        var replicas = await cluster.WaitReadyAsync(Owner, 2);
        _replicaIds.AddRange(replicas.Select(r => r.Meta.Name));
        foreach (var replica in replicas)
        {
            Assert.Equal(replica.Meta.Name, (await cluster.GetTextAsync(replica)).Trim());
        }

        var victim = replicas[0];
        var container = Assert.Single(await docker.ContainersOfAsync([victim.Meta.Name]));
        await docker.Client.Containers.KillContainerAsync(container.ID, new ContainerKillParameters { Signal = "KILL" }, TestContext.Current.CancellationToken);

        var restarted = await cluster.WaitReplicaAsync(
            victim.Meta.Name,
            r => r.Status.Restarts == 1 && r.Status.Phase == Phase.Ready,
            "restarted once and Ready");
        Assert.Equal(victim.Meta.Name, (await cluster.GetTextAsync(restarted)).Trim());
        Assert.Equal(0, (await cluster.ReplicaAsync(replicas[1].Meta.Name)).Status.Restarts);
        var running = Assert.Single(await docker.ContainersOfAsync([victim.Meta.Name]));
        Assert.Equal("running", running.State);

        await cluster.DisposeAsync();

        Assert.Empty(await docker.ContainersOfAsync(_replicaIds));
    }

    [Fact]
    public async Task Two_clusters_on_one_daemon_leave_each_others_containers_alone()
    {
        var cluster = _cluster!;
        await cluster.ApplyAsync(WebService);
        var replicas = await cluster.WaitReadyAsync(Owner, 2);
        _replicaIds.AddRange(replicas.Select(r => r.Meta.Name));
        var before = (await docker.ContainersOfAsync(_replicaIds)).Select(c => c.ID).Order(StringComparer.Ordinal).ToList();

        // A second cluster has nodes of the same names (node-1, node-2) on the same daemon. Its
        // agents must neither adopt the first cluster's containers (and stop them, unassigned)
        // nor remove them when it stops.
        var other = await TestCluster.StartAsync(nodes: 2, runtime: RuntimeMode.Docker);
        await other.DisposeAsync();

        var after = await docker.ContainersOfAsync(_replicaIds);
        Assert.Equal(before, after.Select(c => c.ID).Order(StringComparer.Ordinal));
        Assert.All(after, c => Assert.Equal("running", c.State));
        var still = await cluster.ReplicasAsync(Owner);
        Assert.All(still, r => Assert.Equal(Phase.Ready, r.Status.Phase));
        Assert.All(still, r => Assert.Equal(0, r.Status.Restarts));
    }
}
