using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Store;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// <c>endpoints</c>: how long an endpoints change takes to be applied by every agent. A control
/// plane in this process (SQLite) and N simulated nodes over the real node stream; one published
/// service of R replicas. Each trial scales the service up or down by one, so its endpoints gain
/// or lose one; the clock starts when a store watch in the bench sees the service's endpoints key
/// change (revision V, just after the commit) and stops when every node's endpoints table is at
/// V or later (read in a tight loop, about 1 ms resolution). Baseline, same store and run: a
/// plain put seen by one store watch (the store's own delivery, the floor of any watch-driven path).
/// </summary>
internal static class EndpointsPropagationBench
{
    private const string Service = "endpointsbench";

    public static async Task RunAsync(string url, BenchOptions options, Report report)
    {
        var nodes = options.EndpointNodes;
        var replicas = Math.Max(2, nodes / 2);
        var trials = options.EndpointTrials;
        Console.WriteLine($"endpoints propagation: {nodes} simulated nodes, a published service of {replicas} replicas, {trials} scale steps of one replica; from the endpoints key's change to every node's table at that version");
        var (app, store) = await NodeLossBench.StartControlPlaneAsync(url);
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl);
        var api = new Cluster.ClusterClient(channel);
        await using var fleet = await SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = nodes, Servers = [app.Endpoints().GrpcUrl] });
        await fleet.WaitRegisteredAsync(CancellationToken.None);
        await api.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = Spec(replicas) });

        // Settle: every node has the first full set of the service.
        var first = await store.GetAsync(StoreKeys.Endpoints(Service));
        var settle = Stopwatch.GetTimestamp();
        while (first.Kv is null || !AllAt(fleet, first.Kv.ModRevision))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
            first = await store.GetAsync(StoreKeys.Endpoints(Service));
            if (Stopwatch.GetElapsedTime(settle) > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException($"the endpoints of {Service} did not reach all {nodes} nodes within 2 minutes");
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(2), TimeProvider.System);
        var baseline = await StoreWatchBaselineAsync(store, trials);

        var propagation = new Latency();
        using var stop = new CancellationTokenSource();
        var from = (await store.GetAsync(StoreKeys.Endpoints(Service))).Revision + 1;

        // Each change is stamped the moment the watch hands it over, by a reader of its own.
        var changes = System.Threading.Channels.Channel.CreateUnbounded<(long Version, long At)>();
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in store.WatchAsync(StoreKeys.Endpoints(Service), from, stop.Token))
                {
                    changes.Writer.TryWrite((e.Revision, Stopwatch.GetTimestamp()));
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The run is over.
            }
        });

        var count = replicas;
        for (var trial = 1; trial <= trials; trial++)
        {
            count += trial % 2 == 1 ? 1 : -1;
            await api.ScaleAsync(new ScaleRequest { Service = Service, Replicas = count });

            // A scale-down drains first, so one step may change the endpoints more than once: time each change until 1.5 s pass without one.
            var seen = 0;
            while (true)
            {
                using var quiet = new CancellationTokenSource(seen == 0 ? TimeSpan.FromSeconds(30) : TimeSpan.FromMilliseconds(1500), TimeProvider.System);
                (long Version, long At) change;
                try
                {
                    change = await changes.Reader.ReadAsync(quiet.Token);
                }
                catch (OperationCanceledException) when (quiet.IsCancellationRequested)
                {
                    if (seen == 0)
                    {
                        throw new TimeoutException($"step {trial}: the endpoints of {Service} did not change within 30 s of scaling to {count}");
                    }

                    break;
                }

                await WaitAllAtAsync(fleet, change.Version);
                propagation.Record(change.At);
                seen++;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    step {trial}: {count} replicas, {seen} endpoints change(s); so far p50 {propagation.P50:F2} ms, p99 {propagation.P99:F2} ms over {propagation.Count}"));
        }

        await stop.CancelAsync();
        await reader;
        report.Add(new Row($"endpoints change applied by every agent, {nodes} simulated nodes", "endpoints key changed -> all nodes' tables at its version", double.NaN, propagation.P50, propagation.P99, "store put -> one watch event", propagation.P99 / baseline.P99,
            string.Create(CultureInfo.InvariantCulture, $"{propagation.Count} changes; baseline p50 {baseline.P50:F2} / p99 {baseline.P99:F2} ms; ratio is p99 / baseline p99; goal p99 <= 100 ms")));
        await app.StopAsync();
    }

    private static bool AllAt(SimulatedFleet fleet, long version) => fleet.Nodes.All(n => n.Agent.Endpoints.Current.Version >= version);

    private static async Task WaitAllAtAsync(SimulatedFleet fleet, long version)
    {
        var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (!AllAt(fleet, version))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                var behind = fleet.Nodes.Where(n => n.Agent.Endpoints.Current.Version < version).Select(n => $"{n.Name}@{n.Agent.Endpoints.Current.Version}").Take(5);
                throw new TimeoutException($"endpoints version {version} not applied everywhere after 10 s; behind: {string.Join(", ", behind)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(1), TimeProvider.System);
        }
    }

    private static async Task<Latency> StoreWatchBaselineAsync(IStateStore store, int puts)
    {
        var latency = new Latency();
        const string Key = StoreKeys.Root + "bench/endpoints-baseline";
        using var stop = new CancellationTokenSource();
        var from = (await store.GetAsync(Key)).Revision + 1;
        await using var events = store.WatchAsync(Key, from, stop.Token).GetAsyncEnumerator(stop.Token);
        for (var i = 0; i < puts; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await store.TxnAsync(Txn.Unconditional(TxnOp.Put(Key, [(byte)i])));
            if (!await events.MoveNextAsync())
            {
                throw new InvalidOperationException("the baseline watch ended");
            }

            latency.Record(started);
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }

        await stop.CancelAsync();
        await store.TxnAsync(Txn.Unconditional(new DeleteOp(Key)));
        return latency;
    }

    private static string Spec(int replicas) => $$"""
        kind: Service
        name: {{Service}}
        replicas: {{replicas}}
        driver: process
        command: ["sleep", "1000"]
        resources: { cpu: 10m, memory: 8Mi }
        ports:
          - { name: http, port: 8080, published: 18090, protocol: http }
        placement: { strategy: spread }
        """;
}
