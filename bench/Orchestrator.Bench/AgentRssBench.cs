using System.Diagnostics;
using System.Globalization;
using Orchestrator.Cli.Dev;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Resident memory of the real <c>orc-agent</c> executable (Release build), registered with a
/// control plane hosted in the bench process: idle, then running 30 process replicas with a
/// readiness probe every second and a liveness probe every 5 seconds. Read from
/// <c>/proc/PID/status</c> (VmRSS, sampled; VmHWM for the peak).
/// </summary>
internal static class AgentRssBench
{
    private const string NodeName = "bench-rss";
    private const string Address = "127.0.0.3";
    private const string Service = "rss";
    private const int Replicas = 30;

    public static async Task RunAsync(string dir, string www, Report report)
    {
        var agentPath = await BuildAgentAsync();
        await using var cluster = await DevCluster.StartAsync(
            new DevClusterOptions { DataDir = Path.Combine(dir, "rss-cluster"), Listen = "127.0.0.1:0", HttpListen = "127.0.0.1:0", Nodes = 0, Runtime = RuntimeMode.Process },
            CancellationToken.None);
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        var logPath = Path.Combine(dir, "orc-agent.log");
        using var agent = StartAgent(agentPath, cluster.GrpcUrl, Path.Combine(dir, "rss-agent"), logPath);
        try
        {
            await WaitNodeAsync(driver, agent);
            await Task.Delay(TimeSpan.FromSeconds(5), TimeProvider.System);
            var idle = await SampleAsync(agent.Id, TimeSpan.FromSeconds(5));
            var idleHwm = Proc.StatusMiB(agent.Id, "VmHWM");

            var health = "readiness: { http: /, port: http, interval: 1s }\n  liveness: { tcp: http, interval: 5s }";
            var ready = await driver.ApplyAndWaitReadyAsync(Service, AgentStartupBench.ProcessSpec(Service, Replicas, www, Address, health), Replicas, TimeSpan.FromMinutes(3));
            await Task.Delay(TimeSpan.FromSeconds(5), TimeProvider.System);
            var busy = await SampleAsync(agent.Id, TimeSpan.FromSeconds(10));
            var hwm = Proc.StatusMiB(agent.Id, "VmHWM");

            report.Add(new ValueRow("orc-agent RSS", "idle, registered", idle, "MiB", "", null, string.Create(CultureInfo.InvariantCulture, $"max VmRSS of samples over 5 s; VmHWM {idleHwm:F1} MiB")));
            report.Add(new ValueRow(
                "orc-agent RSS",
                string.Create(CultureInfo.InvariantCulture, $"{Replicas} process replicas Ready"),
                busy,
                "MiB",
                "idle",
                busy / idle,
                string.Create(CultureInfo.InvariantCulture, $"max VmRSS of samples over 10 s; VmHWM {hwm:F1} MiB (all ready {ready.TotalMilliseconds:F0} ms after apply); goal <= 80 MiB")));
            await driver.DeleteAndWaitGoneAsync(Service, TimeSpan.FromMinutes(1));
        }
        finally
        {
            await StopAsync(agent);
        }
    }

    private static async Task<double> SampleAsync(int pid, TimeSpan duration)
    {
        var max = 0.0;
        var start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start) < duration)
        {
            max = Math.Max(max, Proc.StatusMiB(pid, "VmRSS"));
            await Task.Delay(TimeSpan.FromMilliseconds(250), TimeProvider.System);
        }

        return max;
    }

    /// <summary>Builds node-agent/Host in Release (quick when up to date) and returns the orc-agent executable.</summary>
    private static async Task<string> BuildAgentAsync()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Orchestrator.sln")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/')) ?? throw new InvalidOperationException("cannot find the repository root (Orchestrator.sln) above " + AppContext.BaseDirectory);
        }

        var project = Path.Combine(root, "node-agent", "Host", "Orchestrator.NodeAgent.Host.csproj");
        Console.WriteLine("    building orc-agent (Release)");
        await Command.CheckedAsync("dotnet", ["build", project, "-c", "Release", "--nologo", "-v", "q"]);
        var path = Path.Combine(root, "node-agent", "Host", "bin", "Release", "net10.0", "orc-agent");
        return File.Exists(path) ? path : throw new FileNotFoundException("orc-agent was built but is not where expected", path);
    }

    private static Process StartAgent(string path, Uri server, string stateDir, string logPath)
    {
        Directory.CreateDirectory(stateDir);
        var startInfo = new ProcessStartInfo(path)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[]
        {
            "--server", server.ToString(), "--name", NodeName, "--address", Address, "--runtime", "process",
            "--ports", "27000-27999", "--state-dir", stateDir, "--http-listen", $"{Address}:0", "--cpu", "4", "--memory", "8Gi",
        })
        {
            startInfo.ArgumentList.Add(arg);
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("orc-agent did not start");
        var log = TextWriter.Synchronized(new StreamWriter(logPath) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => log.WriteLine(e.Data);
        process.ErrorDataReceived += (_, e) => log.WriteLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitNodeAsync(ClusterDriver driver, Process agent)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var nodes = await driver.Client.ListAsync(new ListRequest { Kind = ObjectKind.Node });
            if (nodes.Items.Any(i => i.Node?.Meta?.Name == NodeName))
            {
                return;
            }

            if (agent.HasExited)
            {
                throw new InvalidOperationException($"orc-agent exited with {agent.ExitCode} before registering");
            }

            if (Stopwatch.GetElapsedTime(start) > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException("orc-agent did not register within 60 s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        }
    }

    /// <summary>SIGTERM, then SIGKILL after 15 s. Its replicas were deleted before; the caller sweeps any left.</summary>
    private static async Task StopAsync(Process agent)
    {
        if (agent.HasExited)
        {
            return;
        }

        await Command.RunAsync("kill", ["-TERM", agent.Id.ToString(CultureInfo.InvariantCulture)]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await agent.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            agent.Kill();
            await agent.WaitForExitAsync();
        }
    }
}
