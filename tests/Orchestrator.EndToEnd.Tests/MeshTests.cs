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

    private static string Demo(int published, string message) => $$"""
        kind: Service
        name: demo
        replicas: 3
        driver: process
        command: ["dotnet", "{{DemoDll}}"]
        env: { DEMO_MESSAGE: "{{message}}" }
        resources: { cpu: 100m, memory: 128Mi }
        ports:
          - { name: http, published: {{published.ToString(CultureInfo.InvariantCulture)}}, protocol: http }
        health:
          readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
        stopGracePeriod: 5s
        update: { maxSurge: 1, maxUnavailable: 0, progressDeadline: 50s }
        placement: { strategy: spread }
        """;

    /// <summary>
    /// The drain protocol end to end: while a template change replaces all three replicas one by
    /// one, four clients send requests through node-1's mesh without pause, and not one fails.
    /// Each retired replica left the endpoints, every node acknowledged that, and only then was it
    /// sent SIGTERM (the demo app has no pre-stop sleep).
    /// </summary>
    [Fact]
    public async Task A_rolling_update_under_continuous_load_through_the_mesh_fails_no_request()
    {
        var published = PortBlock.Reserve(1);
        await _cluster.ApplyAsync(Demo(published, "one"));
        var first = await _cluster.WaitReadyAsync("service/demo", 3);
        var url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{_cluster.Cluster.Nodes[0].Address}:{published}/info"));
        await TestCluster.EventuallyAsync(
            async () =>
            {
                try
                {
                    using var response = await _cluster.Http.GetAsync(url, TestContext.Current.CancellationToken);
                    return response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            ok => ok,
            $"{url} answering through the mesh");

        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var revisions = new System.Collections.Concurrent.ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        long sent = 0;
        async Task ClientAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref sent);
                try
                {
                    using var response = await _cluster.Http.GetAsync(url, TestContext.Current.CancellationToken);
                    var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        failures.Enqueue($"HTTP {(int)response.StatusCode}: {body}");
                        continue;
                    }

                    using var json = JsonDocument.Parse(body);
                    revisions.AddOrUpdate(json.RootElement.GetProperty("revision").GetString() ?? "", 1, (_, n) => n + 1);
                }
                catch (HttpRequestException e)
                {
                    failures.Enqueue($"{e.GetType().Name}: {e.Message}");
                }
            }
        }

        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(ClientAsync, TestContext.Current.CancellationToken)).ToList();
        try
        {
            Assert.Equal(2, Assert.Single((await _cluster.ApplyAsync(Demo(published, "two"))).Results).Revision);
            var second = await TestCluster.EventuallyAsync(
                () => _cluster.ReplicasAsync("service/demo"),
                replicas => replicas.Count == 3 && replicas.All(r => r.Spec.Revision == 2 && r.Status?.Phase == V1.Phase.Ready),
                "three Ready replicas of revision 2 and none of revision 1",
                TestCluster.Describe);
            Assert.Empty(second.Select(r => r.Meta.Name).Intersect(first.Select(r => r.Meta.Name)));

            // Keep the load on until node-1's mesh routes to revision 2 only.
            await TestCluster.EventuallyAsync(
                () => Task.FromResult(revisions.GetValueOrDefault("2")),
                n => n > 50,
                "requests answered by revision 2");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(clients);
        }

        Assert.True(failures.IsEmpty, $"{failures.Count} of {sent} requests failed during the rollout; first: {failures.FirstOrDefault()}");
        Assert.True(revisions.GetValueOrDefault("1") > 0, "no request was answered by revision 1: the load did not overlap the rollout");
    }
}
