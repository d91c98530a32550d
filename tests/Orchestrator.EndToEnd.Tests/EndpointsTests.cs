using System.Globalization;
using System.Text.Json;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// Endpoints on a 3-node cluster of real process replicas (orc-demo): a Ready replica is published
/// by the control plane, shown by <c>orc get endpoints</c> and served by every agent at
/// <c>/endpoints</c>, and it leaves all of them when the service is scaled down.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class EndpointsTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private static string DemoDll => Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");

    private static string DemoService(int replicas) => $$"""
        kind: Service
        name: demo
        replicas: {{replicas.ToString(CultureInfo.InvariantCulture)}}
        driver: process
        command: ["dotnet", "{{DemoDll}}"]
        resources: { cpu: 100m, memory: 128Mi }
        ports:
          - { name: http, published: 18080 }
        health:
          readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
        restart: always
        stopGracePeriod: 5s
        placement: { strategy: spread }
        """;

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(DemoDll), $"{DemoDll} is missing: the project reference to examples/demo-app builds it beside the tests");
        _cluster = await TestCluster.StartAsync(nodes: 3);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>The endpoints of demo's http port as one agent serves them (address:port, sorted), or null while it has none for demo.</summary>
    private async Task<List<string>?> AgentEndpointsAsync(Uri agent)
    {
        using var response = await _cluster.Http.GetAsync(new Uri(agent, "/endpoints"), TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        if (!json.RootElement.GetProperty("services").TryGetProperty("demo", out var demo))
        {
            return null;
        }

        return [.. demo.GetProperty("ports")[0].GetProperty("endpoints").EnumerateArray()
            .Select(e => $"{e.GetProperty("address").GetString()}:{e.GetProperty("port").GetInt32()}")];
    }

    private static List<string> Expected(IEnumerable<Replica> replicas) =>
        [.. replicas.Select(r => $"{r.Status.Endpoints["http"].Address}:{r.Status.Endpoints["http"].Port}").Order(StringComparer.Ordinal)];

    private async Task WaitEveryAgentAsync(List<string> expected)
    {
        foreach (var node in _cluster.Cluster.Nodes)
        {
            var url = node.HttpUrl ?? throw new InvalidOperationException($"{node.Name} is not running");
            await TestCluster.EventuallyAsync(
                () => AgentEndpointsAsync(url),
                seen => seen is not null && seen.Order(StringComparer.Ordinal).SequenceEqual(expected),
                $"{node.Name} serving the endpoints {string.Join(",", expected)}",
                seen => seen is null ? "no demo" : string.Join(",", seen));
        }
    }

    private async Task<Orc.Result> WaitOrcAsync(Func<Orc.Result, bool> done, string what) =>
        await TestCluster.EventuallyAsync(
            () => Orc.RunAsync("get", "endpoints", "demo", "--server", _cluster.Server),
            done,
            what,
            r => r.ToString());

    [Fact]
    public async Task A_ready_replica_is_published_served_by_every_agent_and_gone_after_a_scale_down()
    {
        Assert.Equal(ApplyOutcome.Created, Assert.Single((await _cluster.ApplyAsync(DemoService(2))).Results).Outcome);
        var ready = await _cluster.WaitReadyAsync("service/demo", 2);
        var both = Expected(ready);

        var table = await WaitOrcAsync(r => r.ExitCode == 0 && r.StdoutLines.Length == 2 && both.All(e => r.StdoutLines[1].Contains(e, StringComparison.Ordinal)), "orc get endpoints listing both replicas");
        var row = table.StdoutLines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["demo", "http", "18080", "http"], row[..4]);
        Assert.True(long.Parse(row[5], CultureInfo.InvariantCulture) > 0);
        await WaitEveryAgentAsync(both);

        // Every agent acknowledged a version that holds both (written to its node status with a heartbeat).
        var published = (await _cluster.Api.GetAsync(new GetRequest { Kind = ObjectKind.Endpoints, Name = "demo" }, cancellationToken: TestContext.Current.CancellationToken)).Object.Endpoints.Version;
        await TestCluster.EventuallyAsync(
            async () => (await _cluster.Api.ListAsync(new ListRequest { Kind = ObjectKind.Node }, cancellationToken: TestContext.Current.CancellationToken)).Items.Select(o => o.Node).ToList(),
            nodes => nodes.Count == 3 && nodes.All(n => n.Status.EndpointsAckedVersion >= published),
            $"every node acknowledging endpoints version {published}",
            nodes => string.Join("; ", nodes.Select(n => $"{n.Meta.Name} acked {n.Status.EndpointsAckedVersion}")));

        await _cluster.ApplyAsync(DemoService(1));
        var left = await TestCluster.EventuallyAsync(
            () => _cluster.ReplicasAsync("service/demo"),
            replicas => replicas.Count == 1 && replicas[0].Status?.Phase == Phase.Ready,
            "one Ready replica left",
            TestCluster.Describe);
        var one = Expected(left);

        await WaitOrcAsync(r => r.ExitCode == 0 && r.StdoutLines.Length == 2 && r.StdoutLines[1].Contains(one[0], StringComparison.Ordinal) && !r.StdoutLines[1].Contains(',', StringComparison.Ordinal), "orc get endpoints listing one replica");
        await WaitEveryAgentAsync(one);
    }
}
