using System.Diagnostics;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Recovery with simulated nodes on a real control plane (SQLite, product defaults: heartbeat 1 s,
/// node grace 3 s). <c>node-loss</c>: one service of R replicas spread over N nodes; each trial
/// silences one node holding replicas (<see cref="SimulatedFleet.Kill"/>, like kill -9 of an agent)
/// and measures from the kill until the node is NotReady, until its replicas are Lost, and until R
/// replicas are Ready on other nodes. Baseline: the node grace, the lower bound of any detector.
/// <c>rolling-update</c>: a 10-replica service, a new template applied per trial, time until the
/// rollout is Complete with all 10 on the new revision Ready (ADR 0008's 2 s drain wait included).
/// </summary>
internal static class NodeLossBench
{
    /// <summary>The product's node grace (NodeStreamOptions.NodeGrace), the baseline of the node-loss scenarios.</summary>
    internal static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    internal static readonly TimeSpan TrialTimeout = TimeSpan.FromMinutes(3);

    /// <summary>
    /// A control plane in this process on <paramref name="url"/>, logging warnings and up;
    /// <paramref name="wrap"/> may put a store in front of the opened one (the app gets the wrapper),
    /// <paramref name="logging"/> may add logger providers.
    /// </summary>
    internal static async Task<(WebApplication App, IStateStore Store)> StartControlPlaneAsync(string url, Func<IStateStore, IStateStore>? wrap = null, Action<ILoggingBuilder>? logging = null)
    {
        var opened = await StateStoreFactory.OpenAsync(url);
        var store = wrap is null ? opened : wrap(opened);
        var app = await ControlPlaneApp.BuildAsync(
            new ControlPlaneOptions { Listen = "127.0.0.1:0", HttpListen = "127.0.0.1:0", Store = store.Description, MemberId = "bench" },
            store,
            b =>
            {
                b.Logging.SetMinimumLevel(LogLevel.Warning);
                logging?.Invoke(b.Logging);
            });
        await app.StartAsync();
        return (app, store);
    }

    /// <summary>The one service of these scenarios: <paramref name="replicas"/> process replicas running <c>sleep <paramref name="sleepSeconds"/></c>, spread.</summary>
    internal static string Spec(int replicas, string version, int sleepSeconds = 1000) => $$"""
        kind: Service
        name: bench
        replicas: {{replicas}}
        driver: process
        command: ["sleep", "{{sleepSeconds}}"]
        env: { VERSION: "{{version}}" }
        resources: { cpu: 100m, memory: 64Mi }
        ports:
          - { name: http, port: 8080 }
        placement: { strategy: spread }
        """;

    public static async Task RunNodeLossAsync(string url, BenchOptions options, Report report)
    {
        var nodes = options.NodeLossNodes;
        var replicas = options.NodeLossReplicas;
        var poll = TimeSpan.FromMilliseconds(Math.Max(100, replicas / 10));
        Console.WriteLine($"node loss with {nodes} simulated nodes on sqlite: one service of {replicas} replicas, {options.NodeLossTrials} nodes killed one at a time (heartbeat 1 s, grace {Grace.TotalSeconds} s, polled every {poll.TotalMilliseconds} ms)");
        var (app, store) = await StartControlPlaneAsync(url);
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        var api = new Cluster.ClusterClient(channel);
        await using var fleet = await SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = nodes, Servers = [app.Endpoints().GrpcUrl], Zones = ["a", "b", "c"] });
        await fleet.WaitRegisteredAsync(CancellationToken.None);
        await api.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = Spec(replicas, "1") });
        var started = Stopwatch.GetTimestamp();
        while ((await SnapshotAsync(store)).ReadyOn(_ => true) < replicas)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
            if (Stopwatch.GetElapsedTime(started) > TrialTimeout)
            {
                throw new TimeoutException($"the {replicas} replicas were not all Ready within {TrialTimeout.TotalMinutes} minutes");
            }
        }

        Console.WriteLine($"    {replicas} replicas Ready after {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
        var notReady = new Latency();
        var lost = new Latency();
        var recovered = new Latency();
        var killed = new HashSet<string>();
        for (var trial = 1; trial <= options.NodeLossTrials; trial++)
        {
            var before = await SnapshotAsync(store);
            var victim = before.Replicas.Where(r => r.Node.Length > 0 && !killed.Contains(r.Node)).GroupBy(r => r.Node).OrderByDescending(g => g.Count()).First();
            killed.Add(victim.Key);
            var victimIds = victim.Select(r => r.Id).ToHashSet();
            started = Stopwatch.GetTimestamp();
            fleet.Kill(victim.Key);
            TimeSpan? notReadyAt = null, lostAt = null, readyAt = null;
            while (readyAt is null || notReadyAt is null || lostAt is null)
            {
                await Task.Delay(poll, TimeProvider.System);
                var elapsed = Stopwatch.GetElapsedTime(started);
                if (notReadyAt is null)
                {
                    var status = await store.GetAsync(StoreKeys.NodeStatus(victim.Key));
                    if (status.Kv is not null && ProtoJson.Decode<NodeStatus>(status.Kv.Value, status.Kv.Key).State is NodeState.NotReady or NodeState.Down)
                    {
                        notReadyAt = elapsed;
                    }
                }

                var now = await SnapshotAsync(store);
                if (lostAt is null && now.Replicas.Where(r => victimIds.Contains(r.Id)).All(r => r.Phase == Phase.Lost))
                {
                    lostAt = elapsed; // every replica of the node Lost (or already replaced and deleted)
                }

                if (readyAt is null && now.ReadyOn(node => !killed.Contains(node)) >= replicas)
                {
                    readyAt = elapsed;
                }

                if (elapsed > TrialTimeout)
                {
                    throw new TimeoutException($"trial {trial}: node {victim.Key} killed {elapsed.TotalSeconds:F0} s ago; NotReady {notReadyAt?.TotalSeconds:F1}, Lost {lostAt?.TotalSeconds:F1}, {now.ReadyOn(node => !killed.Contains(node))} of {replicas} Ready elsewhere");
                }
            }

            notReady.RecordTicks(Ticks(notReadyAt.Value));
            lost.RecordTicks(Ticks(lostAt.Value));
            recovered.RecordTicks(Ticks(readyAt.Value));
            Console.WriteLine($"    trial {trial}: killed {victim.Key} ({victimIds.Count} replicas): NotReady {notReadyAt.Value.TotalSeconds:F2} s, Lost {lostAt.Value.TotalSeconds:F2} s, all {replicas} Ready elsewhere {readyAt.Value.TotalSeconds:F2} s");
        }

        var graceMs = Grace.TotalMilliseconds;
        var what = $"{nodes:N0} nodes, {replicas:N0} replicas, {options.NodeLossTrials} kills";
        var note = $"resolution {poll.TotalMilliseconds:F0} ms (polled); ratio is p50 / grace";
        report.Add(new Row($"node loss, {what}", "kill to node NotReady", double.NaN, notReady.P50, notReady.P99, $"node grace {Grace.TotalSeconds:F0} s", notReady.P50 / graceMs, note));
        report.Add(new Row($"node loss, {what}", "kill to its replicas Lost", double.NaN, lost.P50, lost.P99, $"node grace {Grace.TotalSeconds:F0} s", lost.P50 / graceMs, note));
        report.Add(new Row($"node loss, {what}", "kill to all Ready elsewhere", double.NaN, recovered.P50, recovered.P99, $"node grace {Grace.TotalSeconds:F0} s", recovered.P50 / graceMs, note));
        await app.StopAsync();
    }

    public static async Task RunRollingUpdateAsync(string url, BenchOptions options, Report report)
    {
        const int Replicas = 10;
        var poll = TimeSpan.FromMilliseconds(50);
        Console.WriteLine($"rolling update of a {Replicas}-replica service on {Replicas} simulated nodes, sqlite, {options.RollingUpdateTrials} template changes (maxSurge 1, maxUnavailable 0, drain wait 2 s; polled every {poll.TotalMilliseconds} ms)");
        var (app, store) = await StartControlPlaneAsync(url);
        await using var _ = app;
        using var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl);
        var api = new Cluster.ClusterClient(channel);
        await using var fleet = await SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = Replicas, Servers = [app.Endpoints().GrpcUrl] });
        await fleet.WaitRegisteredAsync(CancellationToken.None);
        var total = new Latency();
        for (var version = 1; version <= options.RollingUpdateTrials + 1; version++)
        {
            var started = Stopwatch.GetTimestamp();
            var applied = await api.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = Spec(Replicas, version.ToString(System.Globalization.CultureInfo.InvariantCulture)) });
            var revision = applied.Results.Single().Revision;
            while (true)
            {
                await Task.Delay(poll, TimeProvider.System);
                var status = await store.GetAsync(StoreKeys.ServiceStatus("bench"));
                var service = status.Kv is null ? null : ProtoJson.Decode<ServiceStatus>(status.Kv.Value, status.Kv.Key);
                if (service is { Rollout: RolloutState.Complete } && service.CurrentRevision == revision
                    && (await SnapshotAsync(store)).Replicas.Count(r => r.Revision == revision && r.Phase == Phase.Ready) >= Replicas)
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > TrialTimeout)
                {
                    throw new TimeoutException($"revision {revision}: rollout {service?.Rollout} ({service?.Reason} {service?.Message}) after {TrialTimeout.TotalMinutes} minutes");
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            Console.WriteLine($"    revision {revision}: {(version == 1 ? "first rollout (create)" : "update")} Complete after {elapsed.TotalSeconds:F2} s");
            if (version > 1)
            {
                total.RecordTicks(Ticks(elapsed));
            }
        }

        report.Add(new Row($"rolling update, {Replicas} replicas, {options.RollingUpdateTrials} updates", "apply to rollout Complete", double.NaN, total.P50, total.P99, "drain wait 2 s", total.P50 / 2000.0, "maxSurge 1: 10 steps, each retiring one Ready replica through the bounded drain wait (ADR 0008); ratio is p50 / one drain wait"));
        await app.StopAsync();
    }

    internal static long Ticks(TimeSpan elapsed) => (long)(elapsed.TotalSeconds * Stopwatch.Frequency);

    internal static async Task<Snapshot> SnapshotAsync(IStateStore store)
    {
        var specs = await store.ListAsync(StoreKeys.ReplicasPrefix);
        var statuses = await store.ListAsync(StoreKeys.ReplicaStatusPrefix);
        var phases = new Dictionary<string, Phase>(statuses.Items.Count);
        foreach (var kv in statuses.Items)
        {
            phases[kv.Key[StoreKeys.ReplicaStatusPrefix.Length..]] = ProtoJson.Decode<ReplicaStatus>(kv.Value, kv.Key).Phase;
        }

        var replicas = new List<ReplicaView>(specs.Items.Count);
        foreach (var kv in specs.Items)
        {
            var id = kv.Key[StoreKeys.ReplicasPrefix.Length..];
            var spec = ProtoJson.Decode<Replica>(kv.Value, kv.Key).Spec;
            replicas.Add(new ReplicaView(id, spec?.Node ?? "", spec?.Revision ?? 0, phases.GetValueOrDefault(id)));
        }

        return new Snapshot(replicas);
    }

    internal sealed record ReplicaView(string Id, string Node, long Revision, Phase Phase);

    internal sealed record Snapshot(List<ReplicaView> Replicas)
    {
        public int ReadyOn(Func<string, bool> node) => Replicas.Count(r => r.Phase == Phase.Ready && node(r.Node));
    }
}
