using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>A seed over the whole int range (FsCheck's own ints stay near zero), printed when a property fails so the case replays.</summary>
public readonly record struct ClusterSeed(int Value);

public static class ClusterSeeds
{
    public static Arbitrary<ClusterSeed> Any() => Arb.From(Gen.Choose(0, int.MaxValue).Select(v => new ClusterSeed(v)));
}

/// <summary>
/// Invariants of placing replicas one after another on random clusters: random nodes (allocatable,
/// drivers, labels, port ranges, readiness, cordons), random replicas already bound, and random
/// replicas to place (requests, ports, constraints, maxPerNode, strategies), under random options.
/// What the cluster holds is tallied here independently of the snapshot's own counting.
/// </summary>
public sealed class SchedulerPropertyTests
{
    private const long Mi = 1024 * 1024;
    private static readonly string[] Owners = ["service/web", "service/api", "job/batch", ""];
    private static readonly string[] ConstraintPool = ["zone == a", "zone != b", "zone in (a, c)", "zone not in (b)", "disk == ssd", "disk != hdd", "disk in (ssd, nvme)"];
    private static readonly string[] PortNames = ["http", "admin", "metrics"];

    [Property(MaxTest = 400, Arbitrary = [typeof(ClusterSeeds)])]
    public void Placing_one_replica_after_another_keeps_every_invariant(ClusterSeed seed)
    {
        var random = new Random(seed.Value);
        var world = World.Create(random);
        var scheduler = Scheduler.CreateDefault(world.Options);
        var filters = Scheduler.BuiltInFilters().Where(f => world.Options.Filters.Contains(f.Name)).ToList();

        foreach (var request in world.ToPlace)
        {
            var context = new PlacementContext(request, world.Snapshot);
            var feasible = world.Snapshot.Nodes.Where(n => filters.All(f => f.Filter(context, n) is null)).Select(n => n.Name).ToList();

            var decision = scheduler.Place(request, world.Snapshot, Cluster.Now);

            var what = $"{request.ReplicaId} (cpu {request.CpuMillis}m, memory {request.MemoryBytes / Mi}Mi, ports {request.PortNames.Count}, maxPerNode {request.MaxPerNode}) in\n{world.Describe()}";
            Assert.Equal(feasible.Count, decision.Explanation.NodesFeasible);
            Assert.Equal(world.Snapshot.Nodes.Count - feasible.Count, decision.Explanation.Rejected.Sum(r => r.Nodes));
            if (decision.Node is not { } chosen)
            {
                Assert.True(feasible.Count == 0, $"{what}\nleft pending although {string.Join(", ", feasible)} pass every filter: {decision.Explanation.Message}");
                continue;
            }

            Assert.True(feasible.Contains(chosen), $"{what}\nplaced on {chosen}, which fails {string.Join(", ", filters.Select(f => f.Filter(context, world.Snapshot.NodeOf(chosen))).OfType<string>())}");
            world.CheckAndRecord(request, decision, what);
            world.Snapshot.Bind(request, decision);
            world.CheckTallies(what);
        }
    }

    [Property(MaxTest = 200, Arbitrary = [typeof(ClusterSeeds)])]
    public void Explain_agrees_with_place_on_random_clusters(ClusterSeed seed)
    {
        var random = new Random(seed.Value);
        var world = World.Create(random);
        var scheduler = Scheduler.CreateDefault(world.Options);

        foreach (var request in world.ToPlace)
        {
            var (decision, verdicts) = scheduler.Explain(request, world.Snapshot, Cluster.Now);

            Assert.Equal(world.Snapshot.Nodes.Select(n => n.Name), verdicts.Select(v => v.Node));
            Assert.Equal(decision.Explanation.NodesFeasible, verdicts.Count(v => v.Fits));
            Assert.Equal(
                decision.Explanation.Rejected.Select(r => $"{r.Nodes} {r.Rule}").Order(StringComparer.Ordinal),
                verdicts.Where(v => !v.Fits).GroupBy(v => v.Rule!, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}").Order(StringComparer.Ordinal));
            if (decision.Node is { } chosen)
            {
                var verdict = verdicts.Single(v => v.Node == chosen);
                Assert.Equal(decision.Explanation.Chosen, verdict.Score);
                Assert.All(verdicts.Where(v => v.Fits), v => Assert.True(v.Score!.Total <= verdict.Score!.Total, $"{v.Node} scored {v.Score.Total} above the chosen {chosen} with {verdict.Score.Total}"));

                // The alternatives are the runners-up: as many as the options keep, each scored as in the table, none beaten by a node left out.
                var alternatives = decision.Explanation.Alternatives;
                Assert.Equal(Math.Min(world.Options.Alternatives, decision.Explanation.NodesFeasible - 1), alternatives.Count);
                Assert.All(alternatives, a => Assert.Equal(a, verdicts.Single(v => v.Node == a.Node).Score));
                if (alternatives.Count > 0)
                {
                    var last = alternatives[^1];
                    var leftOut = verdicts.Where(v => v.Fits && v.Node != chosen && alternatives.All(a => a.Node != v.Node));
                    Assert.All(leftOut, v => Assert.True(v.Score!.Total <= last.Total, $"{v.Node} scored {v.Score.Total}, above the last alternative {last.Node} with {last.Total}"));
                }
                world.Snapshot.Bind(request, decision);
            }
        }
    }

    /// <summary>A random cluster and the replicas to place in it, with tallies kept apart from the snapshot.</summary>
    private sealed class World
    {
        private readonly Dictionary<string, Node> _nodes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (long Cpu, long Memory)> _used = new(StringComparer.Ordinal);
        private readonly Dictionary<string, HashSet<int>> _ports = new(StringComparer.Ordinal);
        private readonly Dictionary<(string Owner, string Node), int> _perNode = [];
        private readonly List<string> _existing = [];

        public required ClusterSnapshot Snapshot { get; init; }

        public required SchedulerOptions Options { get; init; }

        public List<PlacementRequest> ToPlace { get; } = [];

        public static World Create(Random random)
        {
            var nodes = Enumerable.Range(1, random.Next(1, 8)).Select(i => RandomNode(random, $"node-{i}")).ToList();
            var world = new World { Snapshot = ClusterSnapshot.Build(nodes, []), Options = RandomOptions(random) };
            foreach (var node in nodes)
            {
                world._nodes[node.Meta.Name] = node;
                world._used[node.Meta.Name] = (0, 0);
                world._ports[node.Meta.Name] = [];
            }

            for (var i = random.Next(0, 9); i > 0; i--)
            {
                world.AddExisting(random, $"old-{i}");
            }

            var count = random.Next(1, 16);
            for (var i = 1; i <= count; i++)
            {
                world.ToPlace.Add(RandomRequest(random, $"new-{i}"));
            }

            return world;
        }

        private static Node RandomNode(Random random, string name)
        {
            long[] cpus = [500, 1000, 2000, 4000, 8000];
            long[] memories = [512 * Mi, 1024 * Mi, 4096 * Mi, 8192 * Mi];
            var cpu = random.Next(12) == 0 ? 0 : random.Next(4) == 0 ? random.Next(0, 8001) : cpus[random.Next(cpus.Length)];
            var memory = random.Next(12) == 0 ? 0 : random.Next(4) == 0 ? random.Next(0, 8193) * Mi : memories[random.Next(memories.Length)];
            var node = Cluster.Node(
                name,
                cpu: "",
                memory: "",
                ports: random.Next(5) == 0 ? "" : $"{20000 + (random.Next(3) * 10)}-{20000 + (random.Next(3) * 10) + random.Next(-1, 4)}",
                drivers: random.Next(8) switch { 0 => "", 1 => "process", 2 => "docker", _ => "docker,process" },
                labels: string.Join(",", new[] { random.Next(4) switch { 0 => "", 1 => "zone=a", 2 => "zone=b", _ => "zone=c" }, random.Next(3) switch { 0 => "", 1 => "disk=ssd", _ => "disk=hdd" } }.Where(l => l.Length > 0)),
                state: random.Next(12) switch { 0 => NodeState.NotReady, 1 => NodeState.Down, 2 => NodeState.Unspecified, _ => NodeState.Ready },
                cordoned: random.Next(10) == 0);
            var resources = new Resources { CpuMillis = cpu, MemoryBytes = memory };
            switch (random.Next(8))
            {
                case 0:
                    // An agent that reported only its capacity.
                    node.Info.Capacity = resources;
                    break;
                case 1:
                    // One that reported neither.
                    break;
                default:
                    node.Info.Allocatable = resources;
                    node.Info.Capacity = new Resources { CpuMillis = cpu * 2, MemoryBytes = memory * 2 };
                    break;
            }

            return node;
        }

        private static SchedulerOptions RandomOptions(Random random)
        {
            var options = new SchedulerOptions
            {
                TieBreak = random.Next(2) == 0 ? TieBreak.Name : TieBreak.Random,
                Seed = random.Next(),
                Alternatives = random.Next(0, 4),
                Scorers = new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    ["least-allocated"] = random.Next(0, 4),
                    ["most-allocated"] = random.Next(0, 4),
                    ["balanced"] = random.Next(0, 4),
                    ["spread"] = random.Next(0, 4),
                    ["topology-spread"] = random.Next(0, 4),
                },
            };
            if (random.Next(4) == 0)
            {
                // Some filters, in some order; a disabled filter's rule is simply not checked.
                var all = new[] { "node-ready", "driver", "resources", "host-ports", "constraints", "max-per-node" };
                return new SchedulerOptions
                {
                    TieBreak = options.TieBreak,
                    Seed = options.Seed,
                    Alternatives = options.Alternatives,
                    Scorers = options.Scorers,
                    Filters = [.. all.Where(f => f == "host-ports" || random.Next(2) == 0).OrderBy(_ => random.Next())],
                };
            }

            return options;
        }

        private static PlacementRequest RandomRequest(Random random, string id) =>
            Cluster.Request(
                id,
                owner: Owners[random.Next(Owners.Length)],
                cpu: $"{random.Next(0, 21) * 50}m",
                memory: $"{random.Next(0, 17) * 64}Mi",
                driver: (Driver)random.Next(3),
                ports: string.Join(",", PortNames.Take(random.Next(3) == 0 ? random.Next(1, 4) : 0)),
                constraints: string.Join(";", Enumerable.Range(0, random.Next(4) == 0 ? random.Next(1, 3) : 0).Select(_ => ConstraintPool[random.Next(ConstraintPool.Length)])),
                strategy: (PlacementStrategy)random.Next(3),
                maxPerNode: random.Next(3) == 0 ? random.Next(1, 3) : 0,
                spreadBy: random.Next(3) == 0 ? "zone" : "");

        /// <summary>A replica already bound: it takes at most half of what its node has left if it still holds resources, and holds free ports of the range (or one outside it).</summary>
        private void AddExisting(Random random, string id)
        {
            var name = $"node-{random.Next(1, _nodes.Count + 1)}";
            var node = Snapshot.NodeOf(name);
            var phase = (Phase)random.Next(1, 10);
            var retrying = phase == Phase.Failed && random.Next(2) == 0;
            var status = new ReplicaStatus { Phase = phase };
            if (retrying)
            {
                status.NextRetryAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Cluster.Now.AddSeconds(30));
            }

            var holds = !(phase is Phase.Succeeded or Phase.Lost || (phase == Phase.Failed && !retrying));
            var (cpuUsed, memoryUsed) = _used[name];
            var cpu = holds ? random.NextInt64(0, (Math.Max(0, node.AllocatableCpu - cpuUsed) / 2) + 1) : random.NextInt64(0, 4001);
            var memory = holds ? random.NextInt64(0, (Math.Max(0, node.AllocatableMemory - memoryUsed) / 2) + 1) : random.NextInt64(0, 4097) * Mi;
            var owner = Owners[random.Next(Owners.Length)];
            var desired = random.Next(5) == 0 ? DesiredState.Drain : DesiredState.Run;
            var replica = Cluster.Bound(id, name, owner, $"{cpu}m", memory.ToString(System.Globalization.CultureInfo.InvariantCulture), phase, retrying, desired);
            var free = Enumerable.Range(node.FirstPort, node.PortRangeSize).Where(p => !_ports[name].Contains(p)).ToList();
            foreach (var port in PortNames.Take(random.Next(0, 3)))
            {
                var hostPort = free.Count > 0 && random.Next(4) > 0 ? free[random.Next(free.Count)] : 5000 + random.Next(10);
                if (!_ports[name].Contains(hostPort))
                {
                    free.Remove(hostPort);
                    replica.Spec.HostPorts[port] = hostPort;
                    _ports[name].Add(hostPort);
                }
            }

            Snapshot.SetReplica(id, replica.Spec, replica.Status);
            _existing.Add($"{id} on {name}: {owner} cpu {cpu}m memory {memory / Mi}Mi {phase}{(retrying ? " retrying" : "")} {desired} ports {string.Join(",", replica.Spec.HostPorts.Values)}");
            if (holds)
            {
                _used[name] = (cpuUsed + cpu, memoryUsed + memory);
                if (desired == DesiredState.Run && owner.Length > 0)
                {
                    _perNode[(owner, name)] = _perNode.GetValueOrDefault((owner, name)) + 1;
                }
            }
        }

        /// <summary>Checks a decision against the tallies before it is bound, then records it.</summary>
        public void CheckAndRecord(PlacementRequest request, PlacementDecision decision, string what)
        {
            var name = decision.Node!;
            var info = _nodes[name].Info;
            var allocatable = info.Allocatable ?? info.Capacity ?? new Resources();
            var filters = Options.Filters;
            var (cpu, memory) = _used[name];
            if (filters.Contains("resources"))
            {
                Assert.True(cpu + request.CpuMillis <= allocatable.CpuMillis, $"{what}\n{name} would use {cpu + request.CpuMillis}m cpu of {allocatable.CpuMillis}m");
                Assert.True(memory + request.MemoryBytes <= allocatable.MemoryBytes, $"{what}\n{name} would use {memory + request.MemoryBytes} bytes of {allocatable.MemoryBytes}");
            }

            Assert.Equal(request.PortNames.Order(StringComparer.Ordinal), decision.HostPorts.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(decision.HostPorts.Count, decision.HostPorts.Values.Distinct().Count());
            foreach (var (port, hostPort) in decision.HostPorts)
            {
                var (first, last) = (info.Ports?.First ?? 0, info.Ports?.Last ?? 0);
                Assert.True(hostPort >= first && hostPort <= last && first > 0, $"{what}\n{port} got {hostPort}, outside {name}'s range {first}-{last}");
                Assert.True(_ports[name].Add(hostPort), $"{what}\n{port} got {hostPort} on {name}, which is already held");
            }

            if (filters.Contains("max-per-node") && request.MaxPerNode > 0 && request.Owner.Length > 0)
            {
                var count = _perNode.GetValueOrDefault((request.Owner, name));
                Assert.True(count < request.MaxPerNode, $"{what}\n{name} already runs {count} of {request.Owner}, maxPerNode {request.MaxPerNode}");
            }

            if (filters.Contains("node-ready"))
            {
                Assert.True(_nodes[name].Status.State == NodeState.Ready && !_nodes[name].Spec.Cordoned, $"{what}\n{name} is {_nodes[name].Status.State}, cordoned {_nodes[name].Spec.Cordoned}");
            }

            if (filters.Contains("driver"))
            {
                Assert.Contains(request.Template.Driver == Driver.Unspecified ? Driver.Docker : request.Template.Driver, info.Drivers);
            }

            _used[name] = (cpu + request.CpuMillis, memory + request.MemoryBytes);
            if (request.Owner.Length > 0)
            {
                _perNode[(request.Owner, name)] = _perNode.GetValueOrDefault((request.Owner, name)) + 1;
            }
        }

        /// <summary>The snapshot counts what the tallies count.</summary>
        public void CheckTallies(string what)
        {
            foreach (var node in Snapshot.Nodes)
            {
                Assert.True((node.CpuUsed, node.MemoryUsed) == _used[node.Name], $"{what}\n{node.Name} counts {node.CpuUsed}m/{node.MemoryUsed} where the bound replicas request {_used[node.Name]}");
                var inRange = _ports[node.Name].Count(p => p >= node.FirstPort && p <= node.LastPort && node.FirstPort > 0);
                Assert.Equal(node.PortRangeSize - inRange, node.FreePorts);
            }
        }

        public string Describe()
        {
            var text = new StringBuilder();
            foreach (var node in _nodes.Values)
            {
                var info = node.Info;
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"  {node.Meta.Name}: allocatable {info.Allocatable} capacity {info.Capacity} ports {info.Ports} drivers {string.Join(",", info.Drivers)} labels {info.Labels} {node.Status.State} cordoned {node.Spec.Cordoned}\n");
            }

            foreach (var line in _existing)
            {
                text.Append("  ").Append(line).Append('\n');
            }

            return text.Append(System.Globalization.CultureInfo.InvariantCulture, $"  options: filters {string.Join(",", Options.Filters)}; scorers {string.Join(",", Options.Scorers.Select(s => $"{s.Key}={s.Value}"))}; tie-break {Options.TieBreak} seed {Options.Seed}").ToString();
        }
    }
}
