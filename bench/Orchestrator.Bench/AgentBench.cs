using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.Cli.Dev;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Supervisor;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// The node agent: Apply to all replicas ready (Docker and process runtimes) against starting the
/// same workload by hand, crash to running again, and the RSS of a real <c>orc-agent</c>. The
/// clusters run in this process (<see cref="DevCluster"/>, one node on 127.0.0.2); everything the
/// scenario starts (containers, images, processes) is removed at the end.
/// </summary>
internal static class AgentBench
{
    public static async Task RunAsync(string dir, BenchOptions options, Report report)
    {
        if (!File.Exists(Workload.Busybox))
        {
            Console.WriteLine($"agent: skipped, it needs a static busybox at {Workload.Busybox} (apt-get install busybox-static)");
            return;
        }

        var runId = Guid.NewGuid().ToString("N")[..8];
        var www = Workload.WriteSite(dir);
        Console.WriteLine($"agent: start-up of {string.Join(", ", options.AgentReplicas)} replicas x {options.AgentRounds} round(s), {options.Crashes} crashes, orc-agent RSS");
        try
        {
            if (!options.Runs("agent") && !options.Runs("agent-start"))
            {
                // Only part of the scenario asked for.
            }
            else if (await DockerAvailableAsync())
            {
                await RunDockerAsync(dir, runId, options, report);
            }
            else
            {
                Console.WriteLine("  docker: skipped, no Docker daemon answers (docker version)");
            }

            if (options.Runs("agent") || options.Runs("agent-start") || options.Runs("agent-crash"))
            {
                await RunProcessAsync(dir, www, options, report);
            }

            if (options.Runs("agent") || options.Runs("agent-rss"))
            {
                await AgentRssBench.RunAsync(dir, www, report);
            }
        }
        finally
        {
            // Replicas the clusters and the agent stop themselves; this catches any left by a failure.
            foreach (var pid in Proc.WithCommandLineContaining(www))
            {
                Proc.Kill(pid);
            }
        }
    }

    private static async Task RunDockerAsync(string dir, string runId, BenchOptions options, Report report)
    {
        var image = await BuildImageAsync(dir, runId);
        try
        {
            await using var cluster = await StartDockerClusterAsync(Path.Combine(dir, "docker-cluster"), nodes: 1, firstPort: 24000);
            await AgentStartupBench.RunDockerAsync(cluster, image, runId, options, report);
        }
        finally
        {
            await AgentStartupBench.RemoveContainersAsync($"orc-bench=orc-bench-{runId}");
            await Command.RunAsync("docker", ["rmi", "-f", image]);
        }
    }

    private static async Task RunProcessAsync(string dir, string www, BenchOptions options, Report report)
    {
        var times = new EventTimes(CrashRestartBench.EventIds);
        await using var cluster = await DevCluster.StartAsync(
            new DevClusterOptions
            {
                DataDir = Path.Combine(dir, "process-cluster"),
                Listen = "127.0.0.1:0",
                HttpListen = "127.0.0.1:0",
                AgentHttpPort = 0,
                Nodes = 1,
                Runtime = RuntimeMode.Process,
                FirstPort = 25000,

                // Every run counts as healthy: each crash restarts at once, without back-off.
                RestartBackoff = new RestartBackoff { ResetAfter = TimeSpan.Zero },
                ConfigureNode = (_, builder) =>
                {
                    builder.Logging.AddFilter<EventTimes>(null, LogLevel.Information);
                    builder.Services.AddSingleton<ILoggerProvider>(times);
                },
            },
            CancellationToken.None);
        await WaitNodesAsync(cluster);
        if (options.Runs("agent") || options.Runs("agent-start"))
        {
            await AgentStartupBench.RunProcessAsync(cluster, www, options, report);
        }

        if (options.Runs("agent") || options.Runs("agent-crash"))
        {
            await CrashRestartBench.RunAsync(cluster, times, www, options, report);
        }
    }

    private static async Task<bool> DockerAvailableAsync()
    {
        try
        {
            return (await Command.RunAsync("docker", ["version", "--format", "{{.Server.Version}}"])).ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // No docker CLI.
        }
    }

    /// <summary>The busybox image of tests/testassets/images/busybox plus the site httpd serves, built offline.</summary>
    private static async Task<string> BuildImageAsync(string dir, string runId)
    {
        var context = Path.Combine(dir, "image");
        Directory.CreateDirectory(context);
        File.Copy(Workload.Busybox, Path.Combine(context, "busybox"));
        Workload.WriteSite(context);
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), """
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            COPY www /www
            """);
        var image = $"orc-bench-httpd:{runId}";
        await Command.CheckedAsync("docker", ["build", "-q", "-t", image, context]);
        return image;
    }

    /// <summary>A whole cluster on Docker in this process (embedded store under <paramref name="dataDir"/>, ephemeral ports), its <paramref name="nodes"/> nodes Ready.</summary>
    public static async Task<DevCluster> StartDockerClusterAsync(string dataDir, int nodes, int firstPort)
    {
        var cluster = await DevCluster.StartAsync(
            new DevClusterOptions
            {
                DataDir = dataDir,
                Listen = "127.0.0.1:0",
                HttpListen = "127.0.0.1:0",
                AgentHttpPort = 0,
                Nodes = nodes,
                Runtime = RuntimeMode.Docker,
                FirstPort = firstPort,
            },
            CancellationToken.None);
        try
        {
            await WaitNodesAsync(cluster);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public static async Task WaitNodesAsync(DevCluster cluster)
    {
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        var start = Stopwatch.GetTimestamp();
        while ((await driver.Client.ListAsync(new ListRequest { Kind = ObjectKind.Node })).Items.Count < cluster.Nodes.Count)
        {
            if (Stopwatch.GetElapsedTime(start) > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException("the cluster's nodes did not register within 30 s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
        }
    }
}
