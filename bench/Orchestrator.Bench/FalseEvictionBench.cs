using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using Orchestrator.ControlPlane.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// <c>false-evictions</c>: nothing is killed, so every replica marked Lost is a false eviction. A
/// control plane in this process (SQLite, product defaults: heartbeat 1 s, grace 3 s), N simulated
/// nodes and one real <c>orc-agent</c> child process (<c>real-1</c>, process runtime), one service of
/// two replicas per node (the real node's are real <c>sleep</c> processes). First a short window
/// without load (the baseline), then M minutes with a CPU burner: two busy-loop child processes
/// per core, so the control plane, the simulated nodes and the real agent all compete for the
/// cores. Over each window it counts, from store watches: nodes going NotReady, liveness leases
/// lapsing, replicas marked Lost, the lifecycle controller's NodeLost events and its guards'
/// events (ControlPlanePaused, EvictionsHeld), plus its guard warnings in the log; and, from a
/// store wrapper, the heartbeats the control plane handled (lease renewals) and the longest gap
/// between two renewals of one lease, against the grace. Progress once a minute.
/// </summary>
internal static class FalseEvictionBench
{
    private const int FirstPort = 29200;

    // NodeLifecycleLoop's log: 1320 node lost, 1321 evictions held, 1323 paused, 1324 pass failed.
    private static readonly int[] GuardLogIds = [1321, 1323];
    private const int PassFailedLogId = 1324;

    public static async Task RunAsync(string url, string dir, BenchOptions options, Report report)
    {
        var nodes = options.FalseEvictionNodes;
        var minutes = options.FalseEvictionMinutes;
        var baselineMinutes = options.FalseEvictionBaselineMinutes;
        var replicas = 2 * (nodes + 1);
        var burners = 2 * Environment.ProcessorCount;
        var sleepSeconds = (int)Math.Ceiling((minutes + baselineMinutes + 15) * 60);
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"false evictions: 1 real orc-agent + {nodes} simulated nodes on sqlite, one service of {replicas} replicas; {baselineMinutes:0.#} min without load, then {minutes:0.#} min with {burners} busy loops on {Environment.ProcessorCount} cores (heartbeat 1 s, grace {NodeLossBench.Grace.TotalSeconds} s)"));
        Console.WriteLine($"    orc-agent: {RealAgent.AgentDll()}");
        RenewalCountingStore? renewals = null;
        var logs = new EventTimes([1320, .. GuardLogIds, PassFailedLogId]);
        var (app, store) = await NodeLossBench.StartControlPlaneAsync(
            url,
            s => renewals = new RenewalCountingStore(s),
            logging => logging.AddProvider(logs));
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var api = new Cluster.ClusterClient(channel);
        await using var fleet = await SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = nodes, Servers = [app.Endpoints().GrpcUrl], Zones = ["a", "b", "c"] });
        await fleet.WaitRegisteredAsync(CancellationToken.None);
        var agent = RealAgent.Start(app.Endpoints().GrpcUrl, "real-1", dir, FirstPort);
        try
        {
            await agent.WaitReadyAsync(store);
            await api.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = NodeLossBench.Spec(replicas, "1", sleepSeconds) });
            await WaitReadyAsync(store, replicas);
            var onAgent = (await NodeLossBench.SnapshotAsync(store)).Replicas.Count(r => r.Node == agent.Name && r.Phase == Phase.Ready);
            Console.WriteLine($"    {replicas} replicas Ready, {onAgent} of them on {agent.Name} ({Proc.WithCommandLineContaining(agent.StateDir + Path.DirectorySeparatorChar).Count()} wrapper/workload processes)");

            await using var watch = await EvictionWatch.StartAsync(store);
            Window? baseline = null;
            if (baselineMinutes > 0)
            {
                baseline = await RunWindowAsync("without load", baselineMinutes, watch, renewals!, logs, agent, burner: null, app.Lifetime.ApplicationStopping);
            }

            Window loaded;
            using (var burner = CpuBurner.Start(burners, TimeSpan.FromMinutes(minutes + 5)))
            {
                loaded = await RunWindowAsync("CPU burner", minutes, watch, renewals!, logs, agent, burner, app.Lifetime.ApplicationStopping);
            }

            var ready = (await NodeLossBench.SnapshotAsync(store)).ReadyOn(_ => true);
            var falseEvictions = loaded.Counts.ReplicasLost;
            if (falseEvictions > 0 || loaded.Counts.NodeNotReady > 0)
            {
                Console.WriteLine($"    FALSE EVICTIONS under load: {falseEvictions} replicas marked Lost, {loaded.Counts.NodeNotReady} nodes NotReady: {watch.Names()}");
            }

            var scenario = string.Create(CultureInfo.InvariantCulture, $"false evictions, 1 real + {nodes:N0} simulated nodes, {replicas:N0} replicas, {minutes:0.#} min, {burners} busy loops");
            var without = baseline is null ? "no baseline window" : string.Create(CultureInfo.InvariantCulture, $"{baselineMinutes:0.#} min without load");
            string Base(Func<Window, double> value, string format) =>
                baseline is null ? without : $"{without}: {value(baseline).ToString(format, CultureInfo.InvariantCulture)}";

            var c = loaded.Counts;
            report.Add(new ValueRow(scenario, "replicas marked Lost (false evictions)", c.ReplicasLost, "", Base(w => w.Counts.ReplicasLost, "F0"), null, string.Create(CultureInfo.InvariantCulture, $"must be 0; NodeLost events: {c.NodeLostEvents} on nodes, {c.ReplicaLostEvents} on replicas; {ready} of {replicas} Ready at the end")));
            report.Add(new ValueRow(scenario, "node NotReady transitions", c.NodeNotReady, "", Base(w => w.Counts.NodeNotReady, "F0"), null, string.Create(CultureInfo.InvariantCulture, $"liveness lease lapses: {c.LivenessLapses} (without load {baseline?.Counts.LivenessLapses.ToString(CultureInfo.InvariantCulture) ?? "-"})")));
            report.Add(new ValueRow(scenario, "eviction guard warnings", loaded.GuardWarnings, "", Base(w => w.GuardWarnings, "F0"), null, string.Create(CultureInfo.InvariantCulture, $"ControlPlanePaused events {c.PausedEvents}, EvictionsHeld events {c.EvictionsHeldEvents} (their log warnings 1323/1321: {loaded.GuardLogs}), failed lifecycle passes (log 1324): {loaded.FailedPasses}")));
            report.Add(new ValueRow(scenario, "heartbeats handled (lease renewals)", loaded.RenewalsPerSecond, "/s", Base(w => w.RenewalsPerSecond, "F1"), baseline is null ? null : loaded.RenewalsPerSecond / baseline.RenewalsPerSecond, string.Create(CultureInfo.InvariantCulture, $"{loaded.Renewals:N0} renewals of {loaded.Leases} leases ({nodes + 1} nodes and the leader's); about {nodes + 1}/s expected at 1 heartbeat/s")));
            report.Add(new ValueRow(scenario, "longest gap between two renewals of a lease", loaded.LongestGap.TotalSeconds, "s", $"node grace {NodeLossBench.Grace.TotalSeconds:F0} s", loaded.LongestGap / NodeLossBench.Grace, string.Create(CultureInfo.InvariantCulture, $"ratio is gap / grace, below 1 means no lease ran out; without load {(baseline is null ? "-" : baseline.LongestGap.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture))} s")));
        }
        catch
        {
            Console.WriteLine($"    {agent.Name}'s log (last lines):\n{agent.Tail()}");
            throw;
        }
        finally
        {
            await agent.DisposeAsync();
        }

        await app.StopAsync();
    }

    /// <summary>What one window counted.</summary>
    private sealed record Window(EvictionCounts Counts, long GuardLogs, long FailedPasses, long Renewals, int Leases, TimeSpan LongestGap, TimeSpan Duration)
    {
        public double RenewalsPerSecond => Renewals / Duration.TotalSeconds;

        /// <summary>Each guard action once: its event (pause, mass silence), or the log line of a failed pass, which has none.</summary>
        public long GuardWarnings => Counts.PausedEvents + Counts.EvictionsHeldEvents + FailedPasses;
    }

    /// <summary>
    /// One window of <paramref name="minutes"/>; <paramref name="stopping"/> is the control plane's
    /// (Ctrl+C and SIGTERM stop it, and the busy loops and the agent with it): counts taken after
    /// that would be counts of a stopped control plane, so the window ends with an error instead.
    /// </summary>
    private static async Task<Window> RunWindowAsync(string label, double minutes, EvictionWatch watch, RenewalCountingStore renewals, EventTimes logs, RealAgent agent, CpuBurner? burner, CancellationToken stopping)
    {
        var startCounts = watch.Counts();
        var startLogs = LogCount(logs, GuardLogIds);
        var startFailed = LogCount(logs, [PassFailedLogId]);
        renewals.Reset();
        var length = TimeSpan.FromMinutes(minutes);
        var started = Stopwatch.GetTimestamp();
        Console.WriteLine($"    {label}: {minutes:0.#} min{(burner is null ? "" : $", {burner.Count} busy loops started")}");
        var minute = 0;
        while (Stopwatch.GetElapsedTime(started) < length)
        {
            var left = length - Stopwatch.GetElapsedTime(started);
            try
            {
                await Task.Delay(left < TimeSpan.FromMinutes(1) ? left : TimeSpan.FromMinutes(1), TimeProvider.System, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                throw new OperationCanceledException($"{label}: the control plane was stopped (Ctrl+C or SIGTERM) {Stopwatch.GetElapsedTime(started).TotalMinutes:F1} min into the window; no result", stopping);
            }

            minute++;
            var counts = watch.Counts() - startCounts;
            var (count, leases, gap) = renewals.Snapshot();
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"      {label}, {Stopwatch.GetElapsedTime(started).TotalMinutes:F1} of {minutes:0.#} min: {counts.ReplicasLost} replicas Lost, {counts.NodeNotReady} nodes NotReady, {counts.LivenessLapses} liveness lapses, {counts.PausedEvents + counts.EvictionsHeldEvents + LogCount(logs, [PassFailedLogId]) - startFailed} guard warnings; {count:N0} heartbeats from {leases} leases, longest gap {gap.TotalSeconds:F2} s; load {LoadAverage()}{(burner is null ? "" : $", {burner.Running} of {burner.Count} busy loops running")}, {agent.Name} {(agent.HasExited ? "EXITED" : "running")}"));
        }

        var duration = Stopwatch.GetElapsedTime(started);
        var (total, leaseCount, longest) = renewals.Snapshot();
        return new Window(watch.Counts() - startCounts, LogCount(logs, GuardLogIds) - startLogs, LogCount(logs, [PassFailedLogId]) - startFailed, total, leaseCount, longest, duration);
    }

    private static long LogCount(EventTimes logs, int[] ids) =>
        logs.Snapshot().Count(e => ids.Contains(e.EventId) && e.Category.EndsWith("NodeLifecycleLoop", StringComparison.Ordinal));

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static async Task WaitReadyAsync(Orchestrator.ControlPlane.Store.IStateStore store, int count)
    {
        var started = Stopwatch.GetTimestamp();
        while ((await NodeLossBench.SnapshotAsync(store)).ReadyOn(_ => true) < count)
        {
            if (Stopwatch.GetElapsedTime(started) > NodeLossBench.TrialTimeout)
            {
                throw new TimeoutException($"the {count} replicas were not all Ready within {NodeLossBench.TrialTimeout.TotalMinutes} minutes");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
        }
    }
}
