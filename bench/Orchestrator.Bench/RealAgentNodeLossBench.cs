using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// <c>node-loss-real</c>: node loss with one real agent among simulated ones. A control plane in
/// this process (SQLite, product defaults: heartbeat 1 s, grace 3 s), N simulated nodes and one
/// service of R replicas spread over them. Each trial starts a fresh real <c>orc-agent</c> child
/// process (process runtime, node <c>real-1</c>, <c>real-2</c>, ...), scales the service up by K so
/// the spread scheduler puts the new replicas on the empty real node, waits until they are Ready
/// there (real <c>sleep</c> processes), then kills the agent with SIGKILL and measures from the
/// kill until the node is NotReady, until its replicas are Lost, and until R + K replicas are
/// Ready on live nodes. Then it ends the replica processes the agent left, scales back to R and
/// goes on. Unlike a silenced simulated node, a killed process's connections are closed by the
/// kernel, so the control plane sees the stream end at once. Baseline: the node grace.
/// </summary>
internal static class RealAgentNodeLossBench
{
    private const int FirstPort = 29000;

    public static async Task RunAsync(string url, string dir, BenchOptions options, Report report)
    {
        var nodes = options.NodeLossNodes;
        var replicas = options.NodeLossReplicas;
        var extra = options.RealAgentReplicas;
        var trials = options.RealAgentTrials;
        var poll = TimeSpan.FromMilliseconds(Math.Max(50, replicas / 20));
        Console.WriteLine($"node loss with 1 real orc-agent among {nodes} simulated nodes on sqlite: one service of {replicas} replicas, {trials} trials each scaling up by {extra} onto a fresh real agent and killing it with SIGKILL (heartbeat 1 s, grace {NodeLossBench.Grace.TotalSeconds} s, polled every {poll.TotalMilliseconds} ms)");
        Console.WriteLine($"    orc-agent: {RealAgent.AgentDll()}");
        var (app, store) = await NodeLossBench.StartControlPlaneAsync(url);
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var api = new Cluster.ClusterClient(channel);
        await using var fleet = await SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = nodes, Servers = [app.Endpoints().GrpcUrl], Zones = ["a", "b", "c"] });
        await fleet.WaitRegisteredAsync(CancellationToken.None);
        await api.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = NodeLossBench.Spec(replicas, "1") });
        var stopping = app.Lifetime.ApplicationStopping; // Ctrl+C or SIGTERM: end the run instead of waiting on a stopped control plane
        var settle = await SettleAsync(store, replicas, "the first apply", stopping);
        Console.WriteLine($"    {replicas} replicas Ready after {settle.TotalSeconds:F1} s");

        var notReady = new Latency();
        var lost = new Latency();
        var recovered = new Latency();
        var dead = new HashSet<string>(StringComparer.Ordinal);
        var total = replicas + extra;
        for (var trial = 1; trial <= trials; trial++)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"real-{trial}");
            var agent = RealAgent.Start(app.Endpoints().GrpcUrl, name, dir, FirstPort);
            try
            {
                await agent.WaitReadyAsync(store);
                await api.ScaleAsync(new ScaleRequest { Service = "bench", Replicas = total });
                await SettleAsync(store, total, $"trial {trial}: the scale-up to {total}", stopping);
                var before = await NodeLossBench.SnapshotAsync(store);
                var victimIds = before.Replicas.Where(r => r.Node == name).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
                var readyOnAgent = before.Replicas.Count(r => r.Node == name && r.Phase == Phase.Ready);
                if (readyOnAgent == 0)
                {
                    throw new InvalidOperationException($"trial {trial}: none of the {extra} new replicas was placed on {name} (the spread scheduler put them on simulated nodes); give fewer simulated nodes per replica (--node-loss-replicas of at least 2 per node) or a larger --node-loss-real-replicas");
                }

                var processes = Proc.WithCommandLineContaining(agent.StateDir + Path.DirectorySeparatorChar).Count();
                var started = Stopwatch.GetTimestamp();
                await agent.KillAsync();
                TimeSpan? notReadyAt = null, lostAt = null, readyAt = null;
                while (readyAt is null || notReadyAt is null || lostAt is null)
                {
                    await Task.Delay(poll, TimeProvider.System, stopping);
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    if (notReadyAt is null)
                    {
                        var status = await store.GetAsync(StoreKeys.NodeStatus(name));
                        if (status.Kv is not null && ProtoJson.Decode<NodeStatus>(status.Kv.Value, status.Kv.Key).State is NodeState.NotReady or NodeState.Down)
                        {
                            notReadyAt = elapsed;
                        }
                    }

                    var now = await NodeLossBench.SnapshotAsync(store);
                    if (lostAt is null && now.Replicas.Where(r => victimIds.Contains(r.Id)).All(r => r.Phase == Phase.Lost))
                    {
                        lostAt = elapsed; // every replica of the node Lost (or already replaced and deleted)
                    }

                    if (readyAt is null && now.ReadyOn(node => node != name && !dead.Contains(node)) >= total)
                    {
                        readyAt = elapsed;
                    }

                    if (elapsed > NodeLossBench.TrialTimeout)
                    {
                        throw new TimeoutException($"trial {trial}: {name} killed {elapsed.TotalSeconds:F0} s ago; NotReady {notReadyAt?.TotalSeconds:F1}, Lost {lostAt?.TotalSeconds:F1}, {now.ReadyOn(node => node != name && !dead.Contains(node))} of {total} Ready on live nodes");
                    }
                }

                var orphans = await agent.KillOrphansAsync();
                notReady.RecordTicks(NodeLossBench.Ticks(notReadyAt.Value));
                lost.RecordTicks(NodeLossBench.Ticks(lostAt.Value));
                recovered.RecordTicks(NodeLossBench.Ticks(readyAt.Value));
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"    trial {trial}: {name} ran {readyOnAgent} of the {extra} new replicas Ready ({processes} wrapper/workload processes); killed: NotReady {notReadyAt.Value.TotalSeconds:F2} s, Lost {lostAt.Value.TotalSeconds:F2} s, all {total} Ready on live nodes {readyAt.Value.TotalSeconds:F2} s; {orphans} orphaned replica process groups ended"));
            }
            catch
            {
                Console.WriteLine($"    {name}'s log (last lines):\n{agent.Tail()}");
                throw;
            }
            finally
            {
                dead.Add(name);
                await agent.DisposeAsync();
            }

            await api.ScaleAsync(new ScaleRequest { Service = "bench", Replicas = replicas });
            await SettleAsync(store, replicas, $"trial {trial}: the scale-down to {replicas}", stopping);
        }

        var graceMs = NodeLossBench.Grace.TotalMilliseconds;
        var what = string.Create(CultureInfo.InvariantCulture, $"1 real agent + {nodes:N0} simulated, {replicas:N0}+{extra} replicas, {trials} kills");
        var note = $"orc-agent killed with SIGKILL; resolution {poll.TotalMilliseconds:F0} ms (polled); ratio is p50 / grace";
        var baseline = $"node grace {NodeLossBench.Grace.TotalSeconds:F0} s";
        report.Add(new Row($"node loss, {what}", "kill to node NotReady", double.NaN, notReady.P50, notReady.P99, baseline, notReady.P50 / graceMs, note));
        report.Add(new Row($"node loss, {what}", "kill to its replicas Lost", double.NaN, lost.P50, lost.P99, baseline, lost.P50 / graceMs, note));
        report.Add(new Row($"node loss, {what}", "kill to all Ready on live nodes", double.NaN, recovered.P50, recovered.P99, baseline, recovered.P50 / graceMs, note));
        await app.StopAsync();
    }

    /// <summary>
    /// Waits until the service has exactly <paramref name="count"/> replicas that have not ended,
    /// all Ready (replicas being retired or replaced are gone); returns how long that took.
    /// </summary>
    private static async Task<TimeSpan> SettleAsync(IStateStore store, int count, string what, CancellationToken stopping)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var now = await NodeLossBench.SnapshotAsync(store);
            var live = now.Replicas.Where(r => r.Phase is not (Phase.Lost or Phase.Failed or Phase.Succeeded)).ToList();
            if (live.Count == count && live.All(r => r.Phase == Phase.Ready))
            {
                return Stopwatch.GetElapsedTime(started);
            }

            if (Stopwatch.GetElapsedTime(started) > NodeLossBench.TrialTimeout)
            {
                var phases = string.Join(", ", live.GroupBy(r => r.Phase).Select(g => $"{g.Count()} {g.Key}"));
                throw new TimeoutException($"{what}: not {count} Ready replicas within {NodeLossBench.TrialTimeout.TotalMinutes} minutes; replicas that have not ended: {phases}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, stopping);
        }
    }
}
