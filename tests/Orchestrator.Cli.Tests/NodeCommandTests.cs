using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// <c>orc node cordon|uncordon|drain</c> against a control plane hosted in the test process (controllers
/// off), whose nodes and replicas are written as their agents and the placement loop would write them.
/// </summary>
public sealed class NodeCommandTests : IAsyncLifetime
{
    private ControlPlaneFixture _cp = null!;
    private ClusterSeed _seed = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cp = await ControlPlaneFixture.StartAsync(cancellationToken: Ct);
        _seed = new ClusterSeed(_cp.Store, Samples.Now - TimeSpan.FromMinutes(5));
        await _seed.AddNodeAsync("node-1", cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", firstPort: 21000, cancellationToken: Ct);
    }

    public async ValueTask DisposeAsync() => await _cp.DisposeAsync();

    private string Server => _cp.GrpcUrl.ToString().TrimEnd('/');

    private Task<Orc.Result> Run(params string[] args) => Orc.RunAsync([.. args, "--server", Server]);

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private async Task<string> StatusColumnAsync(string node)
    {
        var nodes = await Run("get", "nodes");
        Assert.True(nodes.ExitCode == 0, nodes.ToString());
        return Words(nodes.StdoutLines.Single(l => l.StartsWith(node + " ", StringComparison.Ordinal)))[1];
    }

    private async Task<NodeSpec> SpecAsync(string node) =>
        ProtoJson.Decode<Node>((await _cp.Store.GetAsync(StoreKeys.Node(node), 0, Ct)).Kv!.Value, node).Spec;

    private async Task SetPhaseAsync(string id, Phase phase)
    {
        var key = StoreKeys.ReplicaStatus(id);
        var status = ProtoJson.Decode<ReplicaStatus>((await _cp.Store.GetAsync(key, 0, Ct)).Kv!.Value, key);
        status.Phase = phase;
        await _cp.Store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, ProtoJson.Encode(status))), Ct);
    }

    [Fact]
    public async Task Cordon_and_uncordon_set_the_flag_say_so_and_show_in_get_nodes()
    {
        var cordon = await Run("node", "cordon", "node-1");
        var again = await Run("node", "cordon", "node/node-1");

        Assert.True(cordon.ExitCode == 0, cordon.ToString());
        Assert.Equal(["node/node-1 cordoned"], cordon.StdoutLines);
        Assert.Equal(["node/node-1 already cordoned"], again.StdoutLines);
        Assert.True((await SpecAsync("node-1")).Cordoned);
        Assert.Equal("Ready,SchedulingDisabled", await StatusColumnAsync("node-1"));
        Assert.Equal("Ready", await StatusColumnAsync("node-2"));

        var uncordon = await Run("node", "uncordon", "node-1");

        Assert.Equal(["node/node-1 uncordoned"], uncordon.StdoutLines);
        Assert.False((await SpecAsync("node-1")).Cordoned);
        Assert.Equal("Ready", await StatusColumnAsync("node-1"));
    }

    [Fact]
    public async Task An_unknown_node_is_an_error_with_the_closest_name_and_changes_nothing()
    {
        var revision = await _cp.Store.GetRevisionAsync(Ct);

        var result = await Run("node", "drain", "node-3");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(["error: node \"node-3\" not found; did you mean \"node-1\"? ('orc get nodes' lists them)"], result.StderrLines);
        Assert.Equal(revision, await _cp.Store.GetRevisionAsync(Ct));
    }

    [Fact]
    public async Task A_missing_or_invalid_node_name_says_what_to_write()
    {
        var missing = await Run("node", "cordon", "node/");
        var invalid = await Run("node", "cordon", "Node_1");

        Assert.Equal(2, missing.ExitCode);
        Assert.Equal("error: the node name is missing", missing.StderrLines[0]);
        Assert.Equal(1, invalid.ExitCode);
        Assert.StartsWith("error: ", invalid.StderrLines[0], StringComparison.Ordinal);
        Assert.Contains("Node_1", invalid.StderrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drain_without_waiting_marks_the_node_draining_and_uncordon_ends_it()
    {
        var result = await Run("node", "drain", "node-2", "--no-wait");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("node/node-2 cordoned and draining", result.StdoutLines[0]);
        var spec = await SpecAsync("node-2");
        Assert.True(spec.Cordoned && spec.Draining);
        Assert.NotNull(spec.DrainStartedAt);
        Assert.Equal("Ready,SchedulingDisabled,Draining", await StatusColumnAsync("node-2"));
        var describe = await Run("describe", "node", "node-2");
        Assert.Contains(describe.StdoutLines, l => l.StartsWith("Cordoned:", StringComparison.Ordinal) && l.EndsWith("yes (no new replicas are placed here)", StringComparison.Ordinal));
        Assert.Contains(describe.StdoutLines, l => l.StartsWith("Draining:", StringComparison.Ordinal) && l.Contains("yes (started ", StringComparison.Ordinal) && l.EndsWith("replica(s) left", StringComparison.Ordinal));

        await Run("node", "uncordon", "node-2");

        spec = await SpecAsync("node-2");
        Assert.False(spec.Cordoned || spec.Draining);
        Assert.Null(spec.DrainStartedAt);
    }

    [Fact]
    public async Task Drain_waits_printing_what_is_left_until_no_replica_is_left_on_the_node()
    {
        await _seed.PlaceAsync("web-a", "service/web", ClusterSeed.Template(), cancellationToken: Ct);
        await _seed.PlaceAsync("web-b", "service/web", ClusterSeed.Template(), cancellationToken: Ct);
        var onNode = ProtoJson.Decode<Replica>((await _cp.Store.GetAsync(StoreKeys.Replica("web-a"), 0, Ct)).Kv!.Value, "web-a").Spec.Node;
        var other = ProtoJson.Decode<Replica>((await _cp.Store.GetAsync(StoreKeys.Replica("web-b"), 0, Ct)).Kv!.Value, "web-b").Spec.Node;
        Assert.NotEqual(onNode, other);
        using var console = new TestConsole();

        var drain = Orc.RunAsync(["node", "drain", onNode, "--timeout", "60s", "--server", Server], console, Ct);
        await Orc.EventuallyAsync(() => console.Stdout.Contains("1 replica left", StringComparison.Ordinal), "the first progress line");
        await SetPhaseAsync("web-a", Phase.Succeeded);
        var code = await drain;

        Assert.True(code == 0, console.Stdout + console.Stderr);
        Assert.Equal(
            [$"node/{onNode} cordoned and draining", $"node/{onNode}: 1 replica left: web-a (Running)", $"node/{onNode} drained: no replica is left on it (orc node uncordon {onNode} to use it again)"],
            Orc.Lines(console.Stdout));
    }

    [Fact]
    public async Task Drain_that_times_out_exits_non_zero_with_what_is_left()
    {
        var node = await _seed.PlaceAsync("web-a", "service/web", ClusterSeed.Template(), cancellationToken: Ct);

        var result = await Run("node", "drain", node!, "--timeout", "1s");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"node/{node}: 1 replica left: web-a (Running)", result.StdoutLines[^1]);
        Assert.Equal(
            [$"error: node/{node} still has 1 replica left: web-a (Running) after 1s; the drain goes on in the cluster (run 'orc node drain {node}' to wait again, or 'orc node uncordon {node}' to cancel it)"],
            result.StderrLines);
    }
}
