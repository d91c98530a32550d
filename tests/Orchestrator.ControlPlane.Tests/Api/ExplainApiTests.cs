using Grpc.Core;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Api;

/// <summary>
/// <c>Cluster.Explain</c> against an in-process control plane (controllers off) on SQLite, with
/// nodes and replicas written as their agents and the placement loop would write them.
/// </summary>
public sealed class ExplainApiTests : IAsyncLifetime
{
    private static readonly DateTimeOffset DecidedAt = new(2026, 1, 15, 11, 55, 0, TimeSpan.Zero);
    private ControlPlaneFixture _cp = null!;
    private ClusterSeed _seed = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cp = await ControlPlaneFixture.StartAsync(cancellationToken: Ct);
        _seed = new ClusterSeed(_cp.Store, DecidedAt);
    }

    public async ValueTask DisposeAsync() => await _cp.DisposeAsync();

    private async Task<ExplainResponse> ExplainAsync(string id) =>
        await _cp.Client.ExplainAsync(new ExplainRequest { Replica = id }, cancellationToken: Ct);

    private async Task ThreeNodesAsync()
    {
        await _seed.AddNodeAsync("node-1", cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", firstPort: 21000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-3", firstPort: 22000, cancellationToken: Ct);
    }

    [Fact]
    public async Task A_bound_replica_is_chosen_again_on_its_own_node_when_nothing_changed()
    {
        await ThreeNodesAsync();
        var template = ClusterSeed.Template();
        foreach (var id in new[] { "web-aaaa1", "web-aaaa2", "web-aaaa3" })
        {
            Assert.NotNull(await _seed.PlaceAsync(id, "service/web", template, cancellationToken: Ct));
        }

        foreach (var id in new[] { "web-aaaa1", "web-aaaa2", "web-aaaa3" })
        {
            var explained = await ExplainAsync(id);

            var node = explained.Replica.Spec.Node;
            var first = explained.Nodes[0];
            Assert.Equal((node, true, true, true), (first.Node, first.Chosen, first.Current, first.Fits));
            Assert.Equal(node, explained.Now.Chosen.Node);
            Assert.False(explained.Changed);
            Assert.Equal($"Placed now, it would go to {node} again, the node it is on.", explained.Summary);
            Assert.Equal(3, explained.Nodes.Count);
            Assert.All(explained.Nodes, n => Assert.True(n.Fits));
            Assert.Equal(explained.Nodes.Skip(1).Select(n => n.Score.Total).OrderDescending(), explained.Nodes.Skip(1).Select(n => n.Score.Total));

            // Its own room was given back: the node it is on scores as if empty of it.
            Assert.Contains("no replica of service/web here yet", first.Detail, StringComparison.Ordinal);
            Assert.Contains("1 replica of service/web already here", explained.Nodes[1].Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_pending_replica_gets_every_nodes_reason_with_numbers()
    {
        await _seed.AddNodeAsync("node-1", memoryBytes: 2L << 30, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", memoryBytes: 2L << 30, firstPort: 21000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-3", state: NodeState.NotReady, firstPort: 22000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-4", cordoned: true, firstPort: 23000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-5", cpuMillis: 500, firstPort: 24000, cancellationToken: Ct);
        Assert.Null(await _seed.PlaceAsync("big-bbbb1", "service/big", ClusterSeed.Template(cpu: 1000, memory: 4L << 30), cancellationToken: Ct));

        var explained = await ExplainAsync("big-bbbb1");

        Assert.Equal((5, 0), (explained.Now.NodesTotal, explained.Now.NodesFeasible));
        Assert.Equal("0/5 nodes fit: 2 insufficient memory, 1 cordoned, 1 insufficient cpu, 1 not ready", explained.Now.Message);
        Assert.Equal(
            [
                ("node-1", "insufficient memory", "memory 0 of 2Gi used, needs 4Gi"),
                ("node-2", "insufficient memory", "memory 0 of 2Gi used, needs 4Gi"),
                ("node-4", "cordoned", "node is cordoned: no new replicas are placed here (orc node uncordon to allow them)"),
                ("node-5", "insufficient cpu", "cpu 0 of 500m used, needs 1"),
                ("node-3", "not ready", "node is NotReady: no heartbeat for 10s"),
            ],
            explained.Nodes.Select(n => (n.Node, n.Rule, n.Detail)));
        Assert.All(explained.Nodes, n => Assert.False(n.Fits || n.Chosen || n.Current));
        Assert.False(explained.Changed);
        Assert.StartsWith("0/5 nodes fit: 2 insufficient memory, 1 cordoned, 1 insufficient cpu, 1 not ready. It stays Pending until a node has room for it", explained.Summary, StringComparison.Ordinal);
        Assert.Equal(Phase.Pending, explained.Replica.Status.Phase);
        Assert.Equal(explained.Now.Message, explained.Replica.Status.Placement.Message);
    }

    [Fact]
    public async Task A_replica_whose_node_was_cordoned_since_says_the_cluster_changed_and_where_it_would_go_now()
    {
        await ThreeNodesAsync();
        var node = await _seed.PlaceAsync("web-aaaa1", "service/web", ClusterSeed.Template(), cancellationToken: Ct);
        Assert.Equal("node-1", node);
        await _seed.CordonAsync("node-1", cancellationToken: Ct);

        var explained = await ExplainAsync("web-aaaa1");

        Assert.True(explained.Changed);
        Assert.Equal(("node-2", true), (explained.Nodes[0].Node, explained.Nodes[0].Chosen));
        var here = Assert.Single(explained.Nodes, n => n.Current);
        Assert.Equal(("node-1", false, "cordoned"), (here.Node, here.Fits, here.Rule));
        Assert.Equal(
            "The cluster has changed since the decision: placed now, it would go to node-2, not node-1, because node-1 is now rejected for cordoned " +
            "(node is cordoned: no new replicas are placed here (orc node uncordon to allow them)). A placed replica is not moved: it stays on node-1 until it is replaced.",
            explained.Summary);
        Assert.StartsWith("Scheduled on node-1: 3 of 3 nodes fit", explained.Replica.Status.Placement.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pending_replica_that_fits_now_says_so()
    {
        await _seed.AddNodeAsync("node-1", memoryBytes: 1L << 30, cancellationToken: Ct);
        Assert.Null(await _seed.PlaceAsync("big-bbbb1", "service/big", ClusterSeed.Template(memory: 2L << 30), cancellationToken: Ct));
        await _seed.AddNodeAsync("node-2", memoryBytes: 4L << 30, firstPort: 21000, cancellationToken: Ct);

        var explained = await ExplainAsync("big-bbbb1");

        Assert.True(explained.Changed);
        Assert.Equal(("node-2", true), (explained.Nodes[0].Node, explained.Nodes[0].Chosen));
        Assert.Equal("The cluster has changed since the decision: placed now, it would go to node-2 (1 of 2 nodes fit now); the scheduler places it on its next pass.", explained.Summary);
    }

    [Fact]
    public async Task An_unknown_replica_is_not_found_with_the_id_a_close_match_and_how_to_list_replicas()
    {
        await ThreeNodesAsync();
        await _seed.PlaceAsync("web-7f3k2", "service/web", ClusterSeed.Template(), cancellationToken: Ct);

        var typo = await Assert.ThrowsAsync<RpcException>(() => ExplainAsync("web-7f3kz"));
        Assert.Equal(StatusCode.NotFound, typo.StatusCode);
        Assert.Equal("replica \"web-7f3kz\" not found; did you mean \"web-7f3k2\"? 'orc get replicas' lists the replicas", typo.Status.Detail);

        var shortened = await Assert.ThrowsAsync<RpcException>(() => ExplainAsync("web-7f3k"));
        Assert.Equal("replica \"web-7f3k\" not found; did you mean \"web-7f3k2\"? 'orc get replicas' lists the replicas", shortened.Status.Detail);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => ExplainAsync("nope"));
        Assert.Equal((StatusCode.NotFound, "replica \"nope\" not found; 'orc get replicas' lists the replicas"), (unknown.StatusCode, unknown.Status.Detail));

        var empty = await Assert.ThrowsAsync<RpcException>(() => ExplainAsync(""));
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
    }

    [Fact]
    public async Task Explain_writes_nothing()
    {
        await ThreeNodesAsync();
        await _seed.PlaceAsync("web-aaaa1", "service/web", ClusterSeed.Template(), cancellationToken: Ct);
        var before = await _cp.Store.GetRevisionAsync(Ct);

        await ExplainAsync("web-aaaa1");

        Assert.Equal(before, await _cp.Store.GetRevisionAsync(Ct));
    }
}
