using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// <c>orc explain</c> against a control plane hosted in the test process (controllers off), whose
/// nodes and replicas are written as their agents and the placement loop would write them.
/// </summary>
public sealed class ExplainCommandTests : IAsyncLifetime
{
    private ControlPlaneFixture _cp = null!;
    private ClusterSeed _seed = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cp = await ControlPlaneFixture.StartAsync(cancellationToken: Ct);
        _seed = new ClusterSeed(_cp.Store, Samples.Now - TimeSpan.FromMinutes(5));
    }

    public async ValueTask DisposeAsync() => await _cp.DisposeAsync();

    private Task<Orc.Result> Run(params string[] args) =>
        Orc.RunAsync([.. args, "--server", _cp.GrpcUrl.ToString().TrimEnd('/')], time: new FakeTimeProvider(Samples.Now));

    private async Task ThreeNodesWithWebAsync()
    {
        await _seed.AddNodeAsync("node-1", cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", firstPort: 21000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-3", memoryBytes: 1L << 30, firstPort: 22000, cancellationToken: Ct);
        foreach (var id in new[] { "web-7f3k2", "web-q8d1z", "web-m2x9c" })
        {
            await _seed.PlaceAsync(id, "service/web", ClusterSeed.Template(), cancellationToken: Ct);
        }
    }

    [Fact]
    public async Task A_bound_replica_shows_where_it_is_why_and_its_node_chosen_again_first()
    {
        await ThreeNodesWithWebAsync();

        var result = await Run("explain", "replica", "web-q8d1z");

        Assert.True(result.ExitCode == 0, result.ToString());
        Golden.Assert("explain-bound.txt", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task A_pending_replica_shows_how_many_nodes_fit_and_every_nodes_reason()
    {
        await _seed.AddNodeAsync("node-1", memoryBytes: 2L << 30, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", memoryBytes: 2L << 30, firstPort: 21000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-3", state: NodeState.NotReady, firstPort: 22000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-4", cordoned: true, firstPort: 23000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-5", cpuMillis: 500, firstPort: 24000, cancellationToken: Ct);
        await _seed.PlaceAsync("big-4k7wq", "service/big", ClusterSeed.Template(cpu: 1000, memory: 4L << 30), cancellationToken: Ct);

        var result = await Run("explain", "big-4k7wq");

        Assert.True(result.ExitCode == 0, result.ToString());
        Golden.Assert("explain-pending.txt", result.Stdout);
    }

    [Fact]
    public async Task Every_way_of_naming_the_replica_explains_the_same()
    {
        await ThreeNodesWithWebAsync();
        var expected = (await Run("explain", "replica", "web-q8d1z")).Stdout;

        foreach (var args in new[] { new[] { "replica/web-q8d1z" }, ["rep", "web-q8d1z"], ["replicas/web-q8d1z"], ["web-q8d1z"] })
        {
            var result = await Run(["explain", .. args]);
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal(expected, result.Stdout);
        }
    }

    [Fact]
    public async Task Json_prints_the_response()
    {
        await ThreeNodesWithWebAsync();

        var result = await Run("explain", "replica/web-q8d1z", "-o", "json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal("web-q8d1z", root.GetProperty("replica").GetProperty("meta").GetProperty("name").GetString());
        var first = root.GetProperty("nodes")[0];
        Assert.True(first.GetProperty("chosen").GetBoolean());
        Assert.True(first.GetProperty("current").GetBoolean());
        Assert.Equal(3, root.GetProperty("nodes").GetArrayLength());
        Assert.StartsWith("Placed now, it would go to", root.GetProperty("summary").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_replica_is_one_error_line_naming_it_and_how_to_list_replicas()
    {
        await ThreeNodesWithWebAsync();

        var typo = await Run("explain", "replica", "web-q8d1y");
        var unknown = await Run("explain", "replica", "nope");

        Assert.Equal((1, ""), (typo.ExitCode, typo.Stdout));
        Assert.Equal("error: replica \"web-q8d1y\" not found; did you mean \"web-q8d1z\"? 'orc get replicas' lists the replicas\n", typo.Stderr);
        Assert.Equal((1, "error: replica \"nope\" not found; 'orc get replicas' lists the replicas\n"), (unknown.ExitCode, unknown.Stderr));
    }

    [Theory]
    [InlineData("service/web", "error: explain works on one replica at a time, not on services", "'orc get replicas --owner service/web' lists its replicas")]
    [InlineData("replica", "error: explain needs a replica id after \"replica\"", "orc explain replica ID")]
    [InlineData("web-q8d1z extra", "error: explain takes one replica id; \"extra\" after \"web-q8d1z\" is one word too many", "orc explain replica ID")]
    public async Task Other_kinds_and_missing_or_extra_words_are_usage_errors(string args, string error, string hint)
    {
        var result = await Run(["explain", .. args.Split(' ')]);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Equal(error, result.StderrLines[0]);
        Assert.Contains(hint, result.StderrLines[1], StringComparison.Ordinal);
    }
}
