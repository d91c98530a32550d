using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Orchestrator.Cli.Dev;

namespace Orchestrator.Bench;

/// <summary>
/// Crash to running again: SIGKILL the process of a one-replica process service, over and over,
/// and time until its port answers again. The node's restart back-off resets after every run
/// (<c>ResetAfter = 0</c>), so every crash restarts at once. The agent's log events split each
/// restart into detection (kill to the runtime's exit event), the supervisor's share (exit event
/// to the new process spawned) and the workload's own start (spawned to answering). Baseline: the
/// same command spawned directly, timed to answering with the same 2 ms polling.
/// </summary>
internal static class CrashRestartBench
{
    private const string Service = "crash";
    private const string RuntimeCategory = "Orchestrator.NodeAgent.Runtime.Process.ProcessRuntime";
    private const int RuntimeStarted = 2002;
    private const int RuntimeExited = 2003;

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(2);

    public static int[] EventIds => [RuntimeStarted, RuntimeExited];

    public static async Task RunAsync(DevCluster cluster, EventTimes times, string www, BenchOptions options, Report report)
    {
        var address = AgentStartupBench.NodeAddress;
        var baseline = await MeasureSpawnAsync(www, address, options.Crashes);

        using var driver = new ClusterDriver(cluster.GrpcUrl);
        await driver.ApplyAndWaitReadyAsync(Service, AgentStartupBench.ProcessSpec(Service, 1, www, address), 1, TimeSpan.FromMinutes(1));
        try
        {
            var replica = (await driver.ReplicasAsync(Service)).Single();
            var id = replica.Meta.Name;
            var port = replica.Status.Endpoints["http"].Port;
            var record = Path.Combine(cluster.Nodes[0].Options.StateDirectory, "replicas", id, "replica.json");
            Latency total = new(), detection = new(), supervisor = new(), workload = new();
            var unmatched = 0;
            var previous = 0;
            for (var i = 0; i < options.Crashes; i++)
            {
                var child = await CurrentChildAsync(record, previous, address, port);
                var killed = Stopwatch.GetTimestamp();
                Proc.Kill(child);
                await WaitGoneAsync(child);
                while (!await Workload.AnswersAsync(address, port, CancellationToken.None))
                {
                    await Task.Delay(Poll, TimeProvider.System);
                }

                var answered = Stopwatch.GetTimestamp();
                total.RecordTicks(answered - killed);
                previous = child;

                var events = times.Snapshot().Where(e => e.ReplicaId == id && e.Category == RuntimeCategory && e.Timestamp >= killed).ToList();
                var exited = events.FirstOrDefault(e => e.EventId == RuntimeExited);
                var started = exited is null ? null : events.FirstOrDefault(e => e.EventId == RuntimeStarted && e.Timestamp >= exited.Timestamp);
                if (exited is not null && started is not null && started.Timestamp <= answered)
                {
                    detection.RecordTicks(exited.Timestamp - killed);
                    supervisor.RecordTicks(started.Timestamp - exited.Timestamp);
                    workload.RecordTicks(answered - started.Timestamp);
                }
                else
                {
                    unmatched++;
                }

                // Let the restarted replica settle (its readiness probe, the status report) before the next kill.
                await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
            }

            var scenario = string.Create(CultureInfo.InvariantCulture, $"crash -> answers again, x{options.Crashes}");
            report.Add(new Row(scenario, "plain spawn -> answers", double.NaN, baseline.P50, baseline.P99, "", null, "the workload's own start (busybox httpd), 2 ms polling"));
            report.Add(new Row(scenario, "SIGKILL -> answers (orc)", double.NaN, total.P50, total.P99, "plain spawn -> answers", total.P50 / baseline.P50, "time ratio of p50, lower is better; process runtime, no back-off"));
            var split = unmatched == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"; {unmatched} crash(es) without both log events left out");
            report.Add(new Row(scenario, "  kill -> runtime exit event", double.NaN, detection.P50, detection.P99, "", null, "wrapper reaped, exit recorded, cgroup removed" + split));
            report.Add(new Row(scenario, "  exit event -> process spawned", double.NaN, supervisor.P50, supervisor.P99, "", null, "the supervisor's share: decide, start, spawn"));
            report.Add(new Row(scenario, "  spawned -> answers", double.NaN, workload.P50, workload.P99, "", null, "workload start + polling"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    kill -> spawned (orchestrator, detection + supervisor) p99 <= {detection.P99 + supervisor.P99:F1} ms; goal: crash -> running again p99 <= 400 ms + the runtime's own start"));
        }
        finally
        {
            await driver.DeleteAndWaitGoneAsync(Service, TimeSpan.FromMinutes(1));
        }
    }

    /// <summary>The replica's process (the wrapper's child) once it is a new one and answers.</summary>
    private static async Task<int> CurrentChildAsync(string recordPath, int previous, string address, int port)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            if (ReadPid(recordPath) is { } wrapper
                && Proc.ChildrenOf(wrapper).FirstOrDefault() is var child and > 0
                && child != previous
                && await Workload.AnswersAsync(address, port, CancellationToken.None))
            {
                return child;
            }

            if (Stopwatch.GetElapsedTime(start) > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"no new replica process under {recordPath} within 30 s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
        }
    }

    private static int? ReadPid(string recordPath)
    {
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(recordPath));
            return json.RootElement.GetProperty("pid").GetInt32();
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null; // Being rewritten for the next run.
        }
    }

    /// <summary>Until the killed process is gone or a zombie: its listening socket is closed then.</summary>
    private static async Task WaitGoneAsync(int pid)
    {
        while (true)
        {
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{pid}/stat");
            }
            catch (IOException)
            {
                return;
            }

            if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
            {
                return;
            }

            await Task.Yield();
        }
    }

    private static async Task<Latency> MeasureSpawnAsync(string www, string address, int count)
    {
        var latency = new Latency();
        var port = 26900;
        for (var i = 0; i < count; i++)
        {
            var startInfo = new ProcessStartInfo(Workload.Busybox) { UseShellExecute = false };
            foreach (var arg in new[] { "httpd", "-f", "-p", string.Create(CultureInfo.InvariantCulture, $"{address}:{port}"), "-h", www })
            {
                startInfo.ArgumentList.Add(arg);
            }

            var start = Stopwatch.GetTimestamp();
            using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("busybox did not start");
            try
            {
                while (!await Workload.AnswersAsync(address, port, CancellationToken.None))
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"busybox httpd on {address}:{port} exited with {process.ExitCode}");
                    }

                    await Task.Delay(Poll, TimeProvider.System);
                }

                latency.Record(start);
            }
            finally
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }

        return latency;
    }
}
