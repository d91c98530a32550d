using System.Diagnostics;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Store;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Scheduling end to end with simulated nodes (kubemark-style): a real control plane on SQLite,
/// N simulated nodes registering over the real node stream (registration, heartbeats, assignments,
/// status reports), then one service of R replicas applied through the Cluster API. Reports how
/// long the nodes took to be Ready, placements per second until every replica is bound, replicas
/// per second until every one is reported Ready by its node, and the memory of the process (the
/// control plane and the simulated nodes together). Baseline of the end-to-end rate: the same
/// run's placement rate (binding only), so the ratio says what the node stream adds.
/// </summary>
internal static class SimulatedSchedulerBench
{
    private const double Mi = 1024 * 1024;
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(20);

    public static async Task RunAsync(string url, BenchOptions options, Report report)
    {
        var nodes = options.SimulatedNodes;
        var replicas = options.SimulatedReplicas;
        Console.WriteLine($"scheduler with {nodes} simulated nodes on sqlite: one service of {replicas} replicas, end to end (heartbeat every {Heartbeat.TotalSeconds} s, grace {Grace.TotalSeconds} s)");
        var store = await StateStoreFactory.OpenAsync(url);
        await using var app = await ControlPlaneApp.BuildAsync(
            new ControlPlaneOptions { Listen = "127.0.0.1:0", HttpListen = "127.0.0.1:0", Store = store.Description, MemberId = "bench" },
            store,
            b =>
            {
                b.Logging.SetMinimumLevel(LogLevel.Warning);

                // Kubernetes-like timing for thousands of nodes (kubelets renew their lease every
                // 10 s, nodes are lost after 40 s): at the 1 s / 3 s defaults made for small
                // clusters, 5,000 nodes send 5,000 heartbeats a second into a process that shares
                // two cores with them, and a saturated machine delays some past their grace.
                b.Services.AddSingleton(new NodeStreamOptions { HeartbeatInterval = Heartbeat, NodeGrace = Grace });
            });
        await app.StartAsync();
        using var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var api = new Cluster.ClusterClient(channel);
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true) / Mi;

        var started = Stopwatch.GetTimestamp();
        await using var fleet = await SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = nodes, Servers = [app.Endpoints().GrpcUrl], Zones = ["a", "b", "c"] });
        await fleet.WaitRegisteredAsync(CancellationToken.None);
        var registered = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Console.WriteLine($"    {nodes} nodes Ready after {registered:F1} s");
        report.Add(new ValueRow($"{nodes:N0} simulated nodes register, sqlite", "node stream", registered, "s", "", null, $"{nodes / registered:F0} registrations/s; 8 admitted at a time"));

        var loop = app.Services.GetRequiredService<PlacementLoop>();
        var placedBefore = loop.Placed;
        var spec = $$"""
            kind: Service
            name: bench
            replicas: {{replicas}}
            driver: process
            command: ["sleep", "1000"]
            resources: { cpu: 100m, memory: 64Mi }
            ports:
              - { name: http, port: 8080 }
            placement: { strategy: spread }
            """;
        // Every write of the service's endpoints (ADR 0020), counted from the apply on.
        using var counting = new CancellationTokenSource();
        var fromRevision = (await store.GetAsync(StoreKeys.Root, 0)).Revision + 1;
        var endpointsWrites = 0;
        var countWrites = Task.Run(async () =>
        {
            await foreach (var _ in store.WatchAsync(StoreKeys.EndpointsPrefix, fromRevision, counting.Token))
            {
                Interlocked.Increment(ref endpointsWrites);
            }
        });
        started = Stopwatch.GetTimestamp();
        await api.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = spec });
        double? createdAt = null;
        double? placedAt = null;
        var ready = 0;
        var deadline = TimeSpan.FromMinutes(30);
        while (ready < replicas)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
            if (createdAt is null && (await store.ListAsync(StoreKeys.ReplicasPrefix)).Items.Count >= replicas)
            {
                createdAt = Stopwatch.GetElapsedTime(started).TotalSeconds;
            }

            if (placedAt is null && loop.Placed - placedBefore >= replicas)
            {
                placedAt = Stopwatch.GetElapsedTime(started).TotalSeconds;
            }

            ready = await CountReadyAsync(store);
            if (Stopwatch.GetElapsedTime(started) > deadline)
            {
                throw new TimeoutException($"only {ready} of {replicas} replicas Ready after {deadline.TotalMinutes} minutes");
            }
        }

        var allReady = Stopwatch.GetElapsedTime(started).TotalSeconds;
        placedAt ??= allReady;
        createdAt ??= placedAt;
        var placeRate = replicas / placedAt.Value;
        var readyRate = replicas / allReady;
        Console.WriteLine($"    {replicas} created after {createdAt:F1} s, placed after {placedAt:F1} s, all Ready after {allReady:F1} s (1 s polls)");
        report.Add(new Row($"place {replicas:N0} on {nodes:N0} simulated nodes, sqlite", "apply to bound (PlacementLoop)", placeRate, double.NaN, double.NaN, "", null, $"{placedAt:F1} s from apply to the last binding; the service controller had created the last replica at {createdAt:F1} s"));
        report.Add(new Row($"run {replicas:N0} on {nodes:N0} simulated nodes, sqlite", "apply to all Ready (node stream)", readyRate, double.NaN, double.NaN, "apply to bound", readyRate / placeRate, $"{allReady:F1} s until every node reported every replica Ready"));

        // Until every node has applied (acked) the endpoints set that holds every replica.
        var sessions = app.Services.GetRequiredService<NodeSessionRegistry>();
        double? convergedAt = null;
        var convergeBy = Stopwatch.GetElapsedTime(started) + TimeSpan.FromMinutes(5);
        var (published, lagging) = (0, 0);
        while (Stopwatch.GetElapsedTime(started) < convergeBy)
        {
            var kv = (await store.GetAsync(StoreKeys.Endpoints("bench"), 0)).Kv;
            published = kv is null ? 0 : ProtoJson.Decode<ServiceEndpoints>(kv.Value, kv.Key).Ports.Sum(p => p.Endpoints.Count);
            lagging = kv is null ? nodes : fleet.Nodes.Count(n => !(sessions.EndpointsAck(n.Name) >= kv.ModRevision));
            if (published >= replicas && lagging == 0)
            {
                convergedAt = Stopwatch.GetElapsedTime(started).TotalSeconds;
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
        }

        if (convergedAt is null)
        {
            Console.WriteLine($"    endpoints did not converge within 5 minutes of all Ready: {published} of {replicas} published, {lagging} nodes had not acked the latest set");
        }

        await counting.CancelAsync();
        await countWrites.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Console.WriteLine($"    every node applied the endpoints of all {replicas} replicas after {convergedAt:F1} s; {endpointsWrites} endpoints writes");
        report.Add(new ValueRow($"endpoints of {replicas:N0} replicas on {nodes:N0} simulated nodes, sqlite", "apply to every node acked the whole set", convergedAt ?? double.NaN, "s", "", null, $"{endpointsWrites} writes of the service's endpoints (ADR 0020)"));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var heap = GC.GetTotalMemory(forceFullCollection: true) / Mi;
        using var self = Process.GetCurrentProcess();
        report.Add(new ValueRow($"memory, {replicas:N0} replicas on {nodes:N0} simulated nodes, sqlite", "managed heap after GC", heap, "MiB", "", null, $"control plane and simulated nodes in one process (heap {heapBefore:F0} MiB before the nodes); process RSS {self.WorkingSet64 / Mi:F0} MiB"));
        await app.StopAsync();
    }

    private static async Task<int> CountReadyAsync(IStateStore store)
    {
        var statuses = await store.ListAsync(StoreKeys.ReplicaStatusPrefix);
        var ready = 0;
        foreach (var kv in statuses.Items)
        {
            if (ProtoJson.Decode<ReplicaStatus>(kv.Value, kv.Key).Phase == Phase.Ready)
            {
                ready++;
            }
        }

        return ready;
    }
}
