using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>A rolling update of busybox httpd containers on the Docker runtime: every container is replaced, the old ones removed from the daemon.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class DockerRolloutTests(BusyboxImage docker) : IClassFixture<BusyboxImage>, IAsyncLifetime
{
    private const string Owner = "service/web";

    private readonly List<string> _replicaIds = [];
    private TestCluster? _cluster;

    private string WebService(string version) => docker.WebService(page: $"$ORC_REPLICA_ID {version}", more: "update: { maxSurge: 1, maxUnavailable: 0 }");

    public async ValueTask InitializeAsync() => _cluster = await docker.StartClusterAsync();

    public async ValueTask DisposeAsync() => await docker.StopClusterAsync(_cluster, _replicaIds);

    [Fact]
    public async Task A_rolling_update_replaces_every_container_and_removes_the_old_ones()
    {
        var cluster = _cluster!;
        await cluster.ApplyAsync(WebService("v1"));
        var first = await cluster.WaitReadyAsync(Owner, 2);
        _replicaIds.AddRange(first.Select(r => r.Meta.Name));

        await cluster.ApplyAsync(WebService("v2"));
        var status = await Orc.RunAsync("rollout", "status", "web", "--server", cluster.Server);
        Assert.True(status.ExitCode == 0, status.ToString());

        var second = await TestCluster.EventuallyAsync(
            () => cluster.ReplicasAsync(Owner),
            rs => rs.Count == 2 && rs.All(r => r.Spec.Revision == 2 && r.Status?.Phase == Phase.Ready),
            "two Ready replicas of revision 2 and no other",
            TestCluster.Describe);
        _replicaIds.AddRange(second.Select(r => r.Meta.Name));
        foreach (var replica in second)
        {
            Assert.Equal($"{replica.Meta.Name} v2", (await cluster.GetTextAsync(replica)).Trim());
        }

        await TestCluster.EventuallyAsync(
            () => docker.ContainersOfAsync(first.Select(r => r.Meta.Name)),
            containers => containers.Count == 0,
            "the containers of revision 1 to be removed",
            containers => string.Join(", ", containers.Select(c => $"{c.Names.FirstOrDefault()} {c.State}")));
    }
}
