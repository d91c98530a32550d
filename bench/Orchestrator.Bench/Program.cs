using System.Globalization;
using System.Runtime.InteropServices;
using Orchestrator.Bench;
using Orchestrator.TestSupport;

// Scenario benchmarks for the foundation: store writes, apply round trips, watch fan-out.
// Every scenario measures its baseline (the raw dotnet-etcd client on the same etcd) in the
// same run and prints the ratio. Results go to docs/benchmarks.md.
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
await using var etcd = await EtcdProcess.StartAsync();
using var dir = new TempDirectory("orc-bench");
var etcdUrl = $"http://{etcd.Endpoint}";
var report = new Report();

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

var markdown = report.ToMarkdown();
Console.WriteLine();
Console.WriteLine(markdown);
if (options.MarkdownOut is { } path)
{
    await File.WriteAllTextAsync(path, markdown);
}

return 0;
