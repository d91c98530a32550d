using System.Diagnostics;
using System.Globalization;
using Orchestrator.Cli.Dev;

namespace Orchestrator.Bench;

/// <summary>
/// Apply to all N replicas ready, against the same N replicas started without the orchestrator:
/// <c>docker run -d</c> one after another and all at once (Docker), or plain spawns of the same
/// command (processes). Every subject counts a replica ready when <c>GET /</c> answers on its
/// host port, checked every 50 ms (Docker) or 20 ms (processes); the orchestrator
/// learns it from its readiness probe and the bench from a watch on the replicas. Subjects are
/// interleaved round by round, so load from other work on the machine falls on all of them.
/// </summary>
internal static class AgentStartupBench
{
    public const string NodeAddress = "127.0.0.2";

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private static int s_rawPort = 26000;

    public static async Task RunDockerAsync(DevCluster cluster, string image, string runId, BenchOptions options, Report report)
    {
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        foreach (var n in options.AgentReplicas)
        {
            List<double> sequential = [], parallel = [], orc = [];
            for (var round = 1; round <= options.AgentRounds; round++)
            {
                var label = $"orc-bench-{runId}";
                try
                {
                    sequential.Add((await RawDockerAsync(image, label, n, parallel: false)).TotalMilliseconds);
                }
                finally
                {
                    await RemoveContainersAsync($"orc-bench={label}");
                }

                if (n > 1)
                {
                    try
                    {
                        parallel.Add((await RawDockerAsync(image, label, n, parallel: true)).TotalMilliseconds);
                    }
                    finally
                    {
                        await RemoveContainersAsync($"orc-bench={label}");
                    }
                }

                var name = string.Create(CultureInfo.InvariantCulture, $"start-docker-{n}-{round}");
                var spec = $$"""
                    kind: Service
                    name: {{name}}
                    replicas: {{n}}
                    driver: docker
                    image: {{image}}
                    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
                    resources: { cpu: 50m, memory: 32Mi }
                    ports:
                      - { name: http, port: 8080, protocol: http }
                    health:
                      readiness: { http: /, port: http, interval: 50ms }
                    stopGracePeriod: 1s
                    """;
                try
                {
                    orc.Add((await driver.ApplyAndWaitReadyAsync(name, spec, n, Timeout)).TotalMilliseconds);
                }
                finally
                {
                    await driver.DeleteAndWaitGoneAsync(name, Timeout);
                    await WaitContainersGoneAsync($"orc.owner=service/{name}");
                }

                Console.WriteLine($"    docker x{n} round {round}: docker run sequential {sequential[^1]:F0} ms{(n > 1 ? $", parallel {parallel[^1]:F0} ms" : "")}, orc {orc[^1]:F0} ms");
            }

            var scenario = string.Create(CultureInfo.InvariantCulture, $"start {n} docker replica{(n == 1 ? "" : "s")}");
            var rounds = $"median of {options.AgentRounds}; rounds";
            report.Add(new ValueRow(scenario, "docker run -d, one after another", Workload.Median(sequential), "ms", "", null, $"{rounds}: {Workload.Ms(sequential)} ms"));
            if (n > 1)
            {
                report.Add(new ValueRow(scenario, "docker run -d, all at once", Workload.Median(parallel), "ms", "", null, $"{rounds}: {Workload.Ms(parallel)} ms"));
            }

            var best = n > 1 ? Math.Min(Workload.Median(sequential), Workload.Median(parallel)) : Workload.Median(sequential);
            var bestName = n > 1 && Workload.Median(parallel) < Workload.Median(sequential) ? "docker run, all at once" : "docker run, one after another";
            var other = n > 1 ? (bestName.EndsWith("once", StringComparison.Ordinal) ? Workload.Median(sequential) : Workload.Median(parallel)) : double.NaN;
            report.Add(new ValueRow(
                scenario,
                "orc apply -> all Ready (docker runtime)",
                Workload.Median(orc),
                "ms",
                bestName,
                Workload.Median(orc) / best,
                $"{rounds}: {Workload.Ms(orc)} ms; time ratio, lower is better, goal <= 1.2{(n > 1 ? string.Create(CultureInfo.InvariantCulture, $"; {Workload.Median(orc) / other:F2} vs the other docker run order") : "")}"));
        }
    }

    public static async Task RunProcessAsync(DevCluster cluster, string www, BenchOptions options, Report report)
    {
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        foreach (var n in options.AgentReplicas)
        {
            List<double> spawn = [], orc = [];
            for (var round = 1; round <= options.AgentRounds; round++)
            {
                spawn.Add((await RawProcessesAsync(www, n)).TotalMilliseconds);
                var name = string.Create(CultureInfo.InvariantCulture, $"start-process-{n}-{round}");
                try
                {
                    orc.Add((await driver.ApplyAndWaitReadyAsync(name, ProcessSpec(name, n, www, NodeAddress), n, Timeout)).TotalMilliseconds);
                }
                finally
                {
                    await driver.DeleteAndWaitGoneAsync(name, Timeout);
                }

                Console.WriteLine($"    process x{n} round {round}: spawn {spawn[^1]:F0} ms, orc {orc[^1]:F0} ms");
            }

            var scenario = string.Create(CultureInfo.InvariantCulture, $"start {n} process replica{(n == 1 ? "" : "s")}");
            var rounds = $"median of {options.AgentRounds}; rounds";
            report.Add(new ValueRow(scenario, "plain spawn, one after another", Workload.Median(spawn), "ms", "", null, $"{rounds}: {Workload.Ms(spawn)} ms"));
            report.Add(new ValueRow(
                scenario,
                "orc apply -> all Ready (process runtime)",
                Workload.Median(orc),
                "ms",
                "plain spawn",
                Workload.Median(orc) / Workload.Median(spawn),
                $"{rounds}: {Workload.Ms(orc)} ms; time ratio, lower is better"));
        }
    }

    /// <summary>The process workload as a service: busybox httpd on the port the node hands it, on the node's address.</summary>
    public static string ProcessSpec(string name, int replicas, string www, string address, string health = "readiness: { http: /, port: http, interval: 20ms }") => $$"""
        kind: Service
        name: {{name}}
        replicas: {{replicas}}
        driver: process
        command: ["{{Workload.Busybox}}", "httpd", "-f", "-p", "{{address}}:${PORT}", "-h", "{{www}}"]
        resources: { cpu: 50m, memory: 32Mi }
        ports:
          - { name: http, protocol: http }
        health:
          {{health}}
        stopGracePeriod: 1s
        """;

    private static async Task<TimeSpan> RawDockerAsync(string image, string label, int n, bool parallel)
    {
        var ports = Enumerable.Range(0, n).Select(_ => Interlocked.Increment(ref s_rawPort)).ToArray();
        Task Run(int port) => Command.CheckedAsync("docker", [
            "run", "-d", "--name", string.Create(CultureInfo.InvariantCulture, $"{label}-{port}"), "--label", $"orc-bench={label}",
            "-p", string.Create(CultureInfo.InvariantCulture, $"{NodeAddress}:{port}:8080"),
            "--memory", "32m", "--memory-swap", "32m", "--cpus", "0.05",
            image, "httpd", "-f", "-p", "8080", "-h", "/www"]);
        Task Ready(int port) => Workload.WaitAnswersAsync(NodeAddress, port, Workload.DockerProbeInterval, Timeout, CancellationToken.None);

        var start = Stopwatch.GetTimestamp();
        if (parallel)
        {
            await Task.WhenAll(ports.Select(async port =>
            {
                await Run(port);
                await Ready(port);
            }));
        }
        else
        {
            var waits = new List<Task>();
            foreach (var port in ports)
            {
                await Run(port);
                waits.Add(Ready(port));
            }

            await Task.WhenAll(waits);
        }

        return Stopwatch.GetElapsedTime(start);
    }

    private static async Task<TimeSpan> RawProcessesAsync(string www, int n)
    {
        var ports = Enumerable.Range(0, n).Select(_ => Interlocked.Increment(ref s_rawPort)).ToArray();
        var processes = new List<Process>();
        try
        {
            var start = Stopwatch.GetTimestamp();
            var waits = new List<Task>();
            foreach (var port in ports)
            {
                var startInfo = new ProcessStartInfo(Workload.Busybox) { UseShellExecute = false };
                foreach (var arg in new[] { "httpd", "-f", "-p", string.Create(CultureInfo.InvariantCulture, $"{NodeAddress}:{port}"), "-h", www })
                {
                    startInfo.ArgumentList.Add(arg);
                }

                processes.Add(Process.Start(startInfo) ?? throw new InvalidOperationException("busybox did not start"));
                waits.Add(Workload.WaitAnswersAsync(NodeAddress, port, Workload.ProcessProbeInterval, Timeout, CancellationToken.None));
            }

            await Task.WhenAll(waits);
            return Stopwatch.GetElapsedTime(start);
        }
        finally
        {
            foreach (var process in processes)
            {
                process.Kill();
                await process.WaitForExitAsync();
                process.Dispose();
            }
        }
    }

    /// <summary>Removes (SIGKILL) every container with the label filter <paramref name="filter"/>.</summary>
    public static async Task RemoveContainersAsync(string filter)
    {
        var ids = (await Command.CheckedAsync("docker", ["ps", "-aq", "--filter", $"label={filter}"])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (ids.Length > 0)
        {
            await Command.RunAsync("docker", ["rm", "-f", .. ids]);
        }
    }

    public static async Task WaitContainersGoneAsync(string filter)
    {
        var start = Stopwatch.GetTimestamp();
        while ((await Command.CheckedAsync("docker", ["ps", "-aq", "--filter", $"label={filter}"])).Trim().Length > 0)
        {
            if (Stopwatch.GetElapsedTime(start) > Timeout)
            {
                Console.WriteLine($"    containers labelled {filter} still there after the delete; removing them");
                await RemoveContainersAsync(filter);
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        }
    }
}
