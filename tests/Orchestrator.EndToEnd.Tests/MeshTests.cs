using System.Globalization;
using System.Text.Json;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// The routing mesh on a 3-node cluster of real process replicas (orc-demo): a service's published
/// HTTP port answers on node-1's own address, and the requests reach every replica, wherever it runs.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class MeshTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private static string DemoDll => Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");

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

    [Fact]
    public async Task Requests_to_one_node_published_port_reach_all_three_replicas()
    {
        var published = PortBlock.Reserve(1);
        await _cluster.ApplyAsync($$"""
            kind: Service
            name: demo
            replicas: 3
            driver: process
            command: ["dotnet", "{{DemoDll}}"]
            resources: { cpu: 100m, memory: 128Mi }
            ports:
              - { name: http, published: {{published.ToString(CultureInfo.InvariantCulture)}}, protocol: http }
            health:
              readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
            placement: { strategy: spread }
            """);
        var ready = await _cluster.WaitReadyAsync("service/demo", 3);
        var replicas = ready.Select(r => r.Meta.Name).Order(StringComparer.Ordinal).ToList();
        var node1 = _cluster.Cluster.Nodes[0];
        var url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{node1.Address}:{published}/info"));

        // The endpoints reach node-1's mesh a moment after the replicas are Ready; then each batch
        // of requests (round-robin) reaches all three.
        var seen = await TestCluster.EventuallyAsync(
            async () =>
            {
                var ids = new SortedSet<string>(StringComparer.Ordinal);
                try
                {
                    for (var i = 0; i < 9; i++)
                    {
                        using var response = await _cluster.Http.GetAsync(url, TestContext.Current.CancellationToken);
                        if (!response.IsSuccessStatusCode)
                        {
                            return ids;
                        }

                        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
                        ids.Add(json.RootElement.GetProperty("replicaId").GetString()!);
                    }
                }
                catch (HttpRequestException)
                {
                    // The port opens when node-1 receives the service's first endpoints.
                }

                return ids;
            },
            ids => ids.SetEquals(replicas),
            $"requests to {url} reaching {string.Join(", ", replicas)}",
            ids => string.Join(", ", ids));

        Assert.Equal(replicas, seen);
    }
}
