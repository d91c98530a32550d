using System.Globalization;
using System.Runtime.InteropServices;
using Orchestrator.Bench;
using Orchestrator.TestSupport;

// Scenario benchmarks: store writes, apply round trips, watch fan-out (baseline: the raw
// dotnet-etcd client on the same etcd), and the node agent (baseline: docker run and plain
// process spawns of the same workload), and leader failover (baseline: the raw etcd lease expiry). Every scenario measures its baseline in the same run and
// prints the ratio. Docker Swarm is the baseline of swarm-rolling-update and swarm-node-loss,
// which run only when --only names them. Results go to docs/benchmarks.md.
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

Console.WriteLine($"Orchestrator benchmarks: {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTimeOffset.FromUnixTimeSeconds(TimeProvider.System.GetUtcNow().ToUnixTimeSeconds()).ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}");
using var dir = new TempDirectory("orc-bench");
var report = new Report();

// Only the store, apply and watch scenarios need etcd.
await using var etcd = options.Runs("store") || options.Runs("apply") || options.Runs("watch") ? await EtcdProcess.StartAsync() : null;
var etcdUrl = etcd is null ? "" : $"http://{etcd.Endpoint}";

if (options.Runs("store"))
{
    await StoreBench.RunAsync(etcdUrl, dir.File("store.db"), options, report);
}

if (options.Runs("apply"))
{
    await ApplyBench.RunAsync(etcdUrl, dir.File("apply.db"), options, report);
}

if (options.Runs("watch"))
{
    await WatchFanoutBench.RunAsync(etcdUrl, dir.File("watch.db"), options, report);
}

if (options.Runs("agent") || options.Runs("agent-start") || options.Runs("agent-crash") || options.Runs("agent-rss"))
{
    await AgentBench.RunAsync(dir.Path, options, report);
}

if (options.Runs("scheduler"))
{
    foreach (var store in options.SchedulerStores)
    {
        // A fresh etcd (or database) per run: the scenario writes hundreds of thousands of keys.
        await using var schedulerEtcd = store == "etcd" ? await EtcdProcess.StartAsync() : null;
        var url = store == "etcd" ? $"etcd://{schedulerEtcd!.Endpoint}" : $"sqlite://{dir.File("scheduler.db")}";
        await SchedulerBench.RunAsync(store, url, options, report);
    }
}

if (options.Runs("leader"))
{
    // Its own etcd: the scenario's leases and keys stay apart from the other scenarios'.
    await using var leaderEtcd = await EtcdProcess.StartAsync();
    await LeaderBench.RunAsync(leaderEtcd.Endpoint, options, report);
}

if (options.Runs("scheduler-simulated"))
{
    await SimulatedSchedulerBench.RunAsync($"sqlite://{dir.File("simulated.db")}", options, report);
}

if (options.Runs("node-loss"))
{
    await NodeLossBench.RunNodeLossAsync($"sqlite://{dir.File("nodeloss.db")}", options, report);
}

if (options.Runs("node-loss-real"))
{
    await RealAgentNodeLossBench.RunAsync($"sqlite://{dir.File("nodeloss-real.db")}", dir.Path, options, report);
}

if (options.Runs("false-evictions"))
{
    await FalseEvictionBench.RunAsync($"sqlite://{dir.File("false-evictions.db")}", dir.Path, options, report);
}

if (options.Runs("rolling-update"))
{
    await NodeLossBench.RunRollingUpdateAsync($"sqlite://{dir.File("rolling.db")}", options, report);
}

if (options.Runs("endpoints"))
{
    await EndpointsPropagationBench.RunAsync($"sqlite://{dir.File("endpoints.db")}", options, report);
}

if (options.Runs("tcp-proxy"))
{
    await TcpProxyBench.RunAsync(report);
}

if (options.Named("swarm-rolling-update"))
{
    await SwarmBench.RunRollingUpdateAsync(dir.Path, options, report);
}

if (options.Named("swarm-node-loss"))
{
    await SwarmBench.RunNodeLossAsync(dir.Path, options, report);
}

if (options.Named("mesh"))
{
    await MeshBench.RunAsync($"sqlite://{dir.File("mesh.db")}", dir.Path, options, report);
}

if (options.Named("mesh-rolling-update"))
{
    await MeshBench.RunRollingUpdateAsync($"sqlite://{dir.File("mesh-rolling.db")}", dir.Path, options, report);
}

var markdown = report.ToMarkdown();
Console.WriteLine();
Console.WriteLine(markdown);
if (options.MarkdownOut is { } path)
{
    await File.WriteAllTextAsync(path, markdown);
}

return 0;
