using System.Diagnostics;
using System.Diagnostics.Metrics;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Telemetry;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Scheduling at scale: nodes registered in the store, then pending replicas in two waves
/// (the first placed from the initial list, the second written while the loop runs), placed
/// by the real <see cref="PlacementLoop"/> with explanations and events on. Reports
/// placements per second from the first pending write to the last binding committed, the
/// per-decision latency, and the process's memory. Baseline: the same binding writes
/// (replica spec + status, the same batch size) sent straight to the store, with no decision.
/// Anchors: kube-scheduler's CI floor 810 pods/s on 5,000 nodes; Nomad C1M about 3,750/s.
/// </summary>
internal static class SchedulerBench
{
    private const long Mi = 1024 * 1024;
    private static readonly string[] Zones = ["zone-a", "zone-b", "zone-c"];

    public static async Task RunAsync(string store, string url, BenchOptions options, Report report)
    {
        var waves = options.SchedulerReplicas;
        Console.WriteLine($"scheduler on {store}: {options.SchedulerNodes} nodes, waves of {string.Join(" then ", waves)} pending replicas (total {waves.Sum()})");
        await using var state = await StateStoreFactory.OpenAsync(url);
        var maxOps = store == "etcd" ? 128 : 1024;

        await WriteNodesAsync(state, options.SchedulerNodes, maxOps);
        var baseline = await RawBindingWritesAsync(state, Math.Min(20_000, waves[0]), maxOps);
        report.Add(new Row($"binding writes, {store}", "raw store txns (no decision)", baseline, double.NaN, double.NaN, "", null, $"{maxOps / 2} replicas per txn, as the loop batches"));

        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var telemetry = new ControlPlaneTelemetry(services.GetRequiredService<IMeterFactory>());
        var decisions = new Latency();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ControlPlaneTelemetry.Name && instrument.Name == "orc.controlplane.scheduling.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => decisions.RecordTicks((long)(seconds * Stopwatch.Frequency)));
        listener.Start();

        var controllerOptions = new ControllerOptions();
        var events = new EventRecorder(state, TimeProvider.System, controllerOptions, NullLogger<EventRecorder>.Instance);
        var scheduler = Scheduler.CreateDefault(new SchedulerOptions { MaxTxnOps = maxOps });
        using var loop = new PlacementLoop(state, scheduler, TimeProvider.System, controllerOptions, events, NullLogger<PlacementLoop>.Instance, telemetry);

        var written = 0;
        var total = 0L;
        for (var wave = 0; wave < waves.Count; wave++)
        {
            decisions = new Latency();
            var start = Stopwatch.GetTimestamp();
            var before = Split(loop.Stats);
            var gcBefore = (Pause: GC.GetTotalPauseDuration(), Gen0: GC.CollectionCount(0), Gen1: GC.CollectionCount(1), Gen2: GC.CollectionCount(2));
            var target = written + waves[wave];
            if (wave == 0)
            {
                // The first wave is waiting before the loop starts: it is placed from the initial list.
                await WritePendingAsync(state, written, waves[wave], maxOps);
                await loop.StartAsync(CancellationToken.None);
            }
            else
            {
                await WritePendingAsync(state, written, waves[wave], maxOps);
            }

            written = target;
            while (loop.Placed < target)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
            }

            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var after = Split(loop.Stats);
            var split = string.Join(", ", after.Zip(before).Select(p => $"{p.First.Name} {p.First.Seconds - p.Second.Seconds:F1} s"));
            var gc = $"GC paused {(GC.GetTotalPauseDuration() - gcBefore.Pause).TotalSeconds:F1} s ({GC.CollectionCount(0) - gcBefore.Gen0} gen0, {GC.CollectionCount(1) - gcBefore.Gen1} gen1, {GC.CollectionCount(2) - gcBefore.Gen2} gen2)";
            Console.WriteLine($"    loop time: {split} (of {seconds:F1} s); {gc}");
            total += waves[wave];
            var rate = waves[wave] / seconds;
            var how = wave == 0 ? "written, then listed by a starting loop" : "written while the loop runs (watch)";
            report.Add(new Row($"schedule {waves[wave]:N0} on {options.SchedulerNodes:N0} nodes, {store}", "PlacementLoop", rate, decisions.P50, decisions.P99, "raw store txns (no decision)", rate / baseline, $"{how}; {seconds:F1} s ({split}); {gc}; p50/p99 = one decision; {loop.Conflicts} conflicts"));
            await state.CompactAsync(await state.GetRevisionAsync());
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var heap = GC.GetTotalMemory(forceFullCollection: true) / (double)Mi;
        using var self = Process.GetCurrentProcess();
        report.Add(new ValueRow($"scheduler memory, {total:N0} replicas on {options.SchedulerNodes:N0} nodes, {store}", "managed heap after GC", heap, "MiB", "", null, $"process RSS {self.WorkingSet64 / (double)Mi:F0} MiB (bench process: store client and loop)"));
        await loop.StopAsync(CancellationToken.None);
    }

    private static (string Name, double Seconds)[] Split(PlacementStats stats) =>
    [
        ("listing", stats.ListingTime.TotalSeconds),
        ("applying watched changes", stats.ApplyingTime.TotalSeconds),
        ("deciding", stats.DecidingTime.TotalSeconds),
        ("encoding bindings", stats.EncodingTime.TotalSeconds),
        ("waiting for the store", stats.WaitingForStoreTime.TotalSeconds),
    ];

    private static async Task WriteNodesAsync(IStateStore store, int count, int maxOps)
    {
        var ops = new List<TxnOp>();
        for (var i = 1; i <= count; i++)
        {
            var name = $"node-{i:D5}";
            var info = new NodeInfo
            {
                Address = "127.0.0.1",
                Capacity = new Resources { CpuMillis = 4000, MemoryBytes = 16384 * Mi },
                Allocatable = new Resources { CpuMillis = 4000, MemoryBytes = 16384 * Mi },
                Ports = new PortRange { First = 20000, Last = 20999 },
            };
            info.Drivers.Add(Driver.Docker);
            info.Drivers.Add(Driver.Process);
            info.Labels["zone"] = Zones[i % Zones.Length];
            ops.Add(TxnOp.Put(StoreKeys.Node(name), ProtoJson.Encode(new Node { Meta = new ObjectMeta { Name = name }, Info = info, Spec = new NodeSpec() })));
            ops.Add(TxnOp.Put(StoreKeys.NodeStatus(name), ProtoJson.Encode(new NodeStatus { State = NodeState.Ready })));
            if (ops.Count + 2 > maxOps)
            {
                await store.TxnAsync(new Txn([], [.. ops], []));
                ops.Clear();
            }
        }

        if (ops.Count > 0)
        {
            await store.TxnAsync(new Txn([], [.. ops], []));
        }
    }

    /// <summary>Pending replicas of 100-replica services (one in four spread by zone), written in large transactions.</summary>
    private static async Task WritePendingAsync(IStateStore store, int first, int count, int maxOps)
    {
        var ops = new List<TxnOp>();
        var created = Timestamp.FromDateTimeOffset(TimeProvider.System.GetUtcNow());
        for (var i = first; i < first + count; i++)
        {
            var id = $"r{i:D7}";
            ops.Add(TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(Pending(id, i / 100, created))));
            if (ops.Count >= maxOps)
            {
                await store.TxnAsync(new Txn([], [.. ops], []));
                ops.Clear();
            }
        }

        if (ops.Count > 0)
        {
            await store.TxnAsync(new Txn([], [.. ops], []));
        }
    }

    private static Replica Pending(string id, int service, Timestamp created)
    {
        var template = new ReplicaTemplate
        {
            Driver = Driver.Docker,
            Image = "nginx:1.27",
            Resources = new Resources { CpuMillis = 100, MemoryBytes = 128 * Mi },
            Placement = new Placement { Strategy = PlacementStrategy.Spread, SpreadBy = service % 4 == 0 ? "zone" : "" },
        };
        template.Ports.Add(new PortSpec { Name = "http", Port = 80 });
        return new Replica
        {
            Meta = new ObjectMeta { Name = id, CreatedAt = created },
            Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = $"svc-{service:D5}" }, Revision = 1, Template = template, Desired = DesiredState.Run },
        };
    }

    /// <summary>Writes what binding <paramref name="count"/> replicas writes (spec and status per replica, same batch size) with no decision: the store's own ceiling.</summary>
    private static async Task<double> RawBindingWritesAsync(IStateStore store, int count, int maxOps)
    {
        var created = Timestamp.FromDateTimeOffset(TimeProvider.System.GetUtcNow());
        var perTxn = maxOps / 2;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i += perTxn)
        {
            var ops = new List<TxnOp>(maxOps);
            for (var j = i; j < Math.Min(count, i + perTxn); j++)
            {
                var id = $"raw{j:D7}";
                var replica = Pending(id, j / 100, created);
                replica.Spec.Node = $"node-{(j % 5000) + 1:D5}";
                replica.Spec.HostPorts["http"] = 20000;
                ops.Add(TxnOp.Put("/bench/raw/replicas/" + id, ProtoJson.Encode(replica)));
                ops.Add(TxnOp.Put("/bench/raw/status/" + id, ProtoJson.Encode(new ReplicaStatus { Phase = Phase.Scheduled, Message = "Scheduled on node-00001: 5000 of 5000 nodes fit; scored 91.2 (spread 40, least-allocated 30, balanced 21.2); 3.9 cpu, 15.9Gi memory free after placing" })));
            }

            await store.TxnAsync(new Txn([], ops, []));
        }

        var rate = count / Stopwatch.GetElapsedTime(start).TotalSeconds;
        await store.TxnAsync(Txn.Unconditional(TxnOp.DeletePrefix("/bench/raw/")));
        return rate;
    }
}
