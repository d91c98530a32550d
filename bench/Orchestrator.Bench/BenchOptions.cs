using System.Globalization;

namespace Orchestrator.Bench;

/// <summary>Sizes of the runs; <c>--quick</c> shrinks them for a smoke run.</summary>
internal sealed record BenchOptions
{
    public int StoreOps { get; init; } = 2000;

    public int Concurrency { get; init; } = 16;

    public int ApplyOps { get; init; } = 4000;

    public int Watchers { get; init; } = 1000;

    public int WatchCommits { get; init; } = 200;

    /// <summary>Replica counts of the agent's start-up scenario (Apply to all ready).</summary>
    public IReadOnlyList<int> AgentReplicas { get; init; } = [1, 10, 30];

    /// <summary>Rounds per replica count; each round runs every subject once, interleaved.</summary>
    public int AgentRounds { get; init; } = 3;

    /// <summary>Crashes (SIGKILL) measured in the crash-to-running-again scenario.</summary>
    public int Crashes { get; init; } = 100;

    /// <summary>Nodes registered for the scheduler scenario.</summary>
    public int SchedulerNodes { get; init; } = 5000;

    /// <summary>Waves of pending replicas for the scheduler scenario (50,000 then 100,000 more: 150,000 in all).</summary>
    public IReadOnlyList<int> SchedulerReplicas { get; init; } = [50_000, 100_000];

    /// <summary>Stores the scheduler scenario runs on.</summary>
    public IReadOnlyList<string> SchedulerStores { get; init; } = ["etcd", "sqlite"];

    /// <summary>Leader kills (SIGKILL) measured in the leader failover scenario.</summary>
    public int LeaderKills { get; init; } = 20;

    /// <summary>Simulated nodes registered over the real node stream for the <c>scheduler-simulated</c> scenario.</summary>
    public int SimulatedNodes { get; init; } = 1000;

    /// <summary>Replicas of the one service applied in the <c>scheduler-simulated</c> scenario.</summary>
    public int SimulatedReplicas { get; init; } = 10_000;

    /// <summary>Simulated nodes of the <c>node-loss</c> scenario.</summary>
    public int NodeLossNodes { get; init; } = 100;

    /// <summary>Replicas of the one service of the <c>node-loss</c> scenario.</summary>
    public int NodeLossReplicas { get; init; } = 1000;

    /// <summary>Nodes killed, one per trial, in the <c>node-loss</c> scenario.</summary>
    public int NodeLossTrials { get; init; } = 10;

    /// <summary>Real agents started and killed, one per trial, in the <c>node-loss-real</c> scenario.</summary>
    public int RealAgentTrials { get; init; } = 10;

    /// <summary>Replicas the <c>node-loss-real</c> scenario adds per trial, for the spread scheduler to put on the fresh real agent.</summary>
    public int RealAgentReplicas { get; init; } = 5;

    /// <summary>Minutes of the <c>false-evictions</c> scenario's window under the CPU burner.</summary>
    public double FalseEvictionMinutes { get; init; } = 10;

    /// <summary>Minutes of the <c>false-evictions</c> scenario's window without load before it (0: none).</summary>
    public double FalseEvictionBaselineMinutes { get; init; } = 1;

    /// <summary>Simulated nodes of the <c>false-evictions</c> scenario (one real agent joins them).</summary>
    public int FalseEvictionNodes { get; init; } = 100;

    /// <summary>Template changes rolled out in the <c>rolling-update</c> and <c>swarm-rolling-update</c> scenarios.</summary>
    public int RollingUpdateTrials { get; init; } = 5;

    /// <summary>Seconds of each load run of the <c>mesh</c> scenario.</summary>
    public int MeshSeconds { get; init; } = 10;

    /// <summary>Rounds of the <c>mesh</c> scenario's closed-loop runs (every subject once per round).</summary>
    public int MeshRounds { get; init; } = 3;

    /// <summary>wrk connections of the <c>mesh</c> scenario.</summary>
    public int MeshConnections { get; init; } = 50;

    /// <summary>Requests per second of the <c>mesh</c> scenario's open-loop runs.</summary>
    public int MeshFixedRate { get; init; } = 1000;

    /// <summary>What the <c>mesh</c> scenario compares with direct: mesh, nginx, haproxy.</summary>
    public IReadOnlyList<string> MeshSubjects { get; init; } = ["mesh", "nginx", "haproxy"];

    /// <summary>Seconds of load in the <c>mesh-rolling-update</c> scenario.</summary>
    public int MeshRollingSeconds { get; init; } = 160;

    /// <summary>Requests per second through the mesh in the <c>mesh-rolling-update</c> scenario.</summary>
    public int MeshRollingRate { get; init; } = 2000;

    /// <summary>Simulated nodes of the <c>endpoints</c> scenario.</summary>
    public int EndpointNodes { get; init; } = 100;

    /// <summary>Scale steps (each one endpoint more or less) of the <c>endpoints</c> scenario.</summary>
    public int EndpointTrials { get; init; } = 40;

    public string? Only { get; init; }

    public string? MarkdownOut { get; init; }

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt() => int.Parse(Next(), CultureInfo.InvariantCulture);
            double NextMinutes()
            {
                var flag = args[i];
                var value = double.Parse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture);
                return value >= 0 && double.IsFinite(value) ? value : throw new ArgumentException($"{flag} takes minutes, 0 or more, for example 10 or 0.5");
            }

            options = args[i] switch
            {
                "--quick" => options with { StoreOps = 200, ApplyOps = 400, Watchers = 100, WatchCommits = 30, AgentReplicas = [1, 10], AgentRounds = 1, Crashes = 20, SchedulerNodes = 500, SchedulerReplicas = [5000, 10000], LeaderKills = 5, SimulatedNodes = 100, SimulatedReplicas = 1000 },
                "--simulated-nodes" => options with { SimulatedNodes = NextInt() },
                "--simulated-replicas" => options with { SimulatedReplicas = NextInt() },
                "--scheduler-nodes" => options with { SchedulerNodes = NextInt() },
                "--scheduler-replicas" => options with { SchedulerReplicas = [.. Next().Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture))] },
                "--scheduler-stores" => options with { SchedulerStores = [.. Next().Split(',')] },
                "--node-loss-nodes" => options with { NodeLossNodes = NextInt() },
                "--node-loss-replicas" => options with { NodeLossReplicas = NextInt() },
                "--node-loss-trials" => options with { NodeLossTrials = NextInt() },
                "--rolling-update-trials" => options with { RollingUpdateTrials = NextInt() },
                "--node-loss-real-trials" => options with { RealAgentTrials = NextInt() },
                "--node-loss-real-replicas" => options with { RealAgentReplicas = NextInt() },
                "--false-eviction-minutes" => options with { FalseEvictionMinutes = NextMinutes() is > 0 and var m ? m : throw new ArgumentException("--false-eviction-minutes must be more than 0, for example 10 or 0.5") },
                "--false-eviction-baseline-minutes" => options with { FalseEvictionBaselineMinutes = NextMinutes() },
                "--false-eviction-nodes" => options with { FalseEvictionNodes = NextInt() },
                "--store-ops" => options with { StoreOps = NextInt() },
                "--concurrency" => options with { Concurrency = NextInt() },
                "--apply-ops" => options with { ApplyOps = NextInt() },
                "--watchers" => options with { Watchers = NextInt() },
                "--watch-commits" => options with { WatchCommits = NextInt() },
                "--agent-replicas" => options with { AgentReplicas = [.. Next().Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture))] },
                "--agent-rounds" => options with { AgentRounds = NextInt() },
                "--crashes" => options with { Crashes = NextInt() },
                "--leader-kills" => options with { LeaderKills = NextInt() },
                "--mesh-seconds" => options with { MeshSeconds = NextInt() },
                "--mesh-rounds" => options with { MeshRounds = NextInt() },
                "--mesh-connections" => options with { MeshConnections = NextInt() },
                "--mesh-subjects" => options with { MeshSubjects = [.. Next().Split(',')] },
                "--mesh-rate" => options with { MeshFixedRate = NextInt() },
                "--mesh-rolling-seconds" => options with { MeshRollingSeconds = NextInt() },
                "--mesh-rolling-rate" => options with { MeshRollingRate = NextInt() },
                "--endpoint-nodes" => options with { EndpointNodes = NextInt() },
                "--endpoint-trials" => options with { EndpointTrials = NextInt() },
                "--only" => options with { Only = Next() },
                "--markdown" => options with { MarkdownOut = Next() },
                _ => throw new ArgumentException($"unknown option {args[i]}; options: --quick, --store-ops N, --concurrency N, --apply-ops N, --watchers N, --watch-commits N, --agent-replicas 1,10,30, --agent-rounds N, --crashes N, --scheduler-nodes N, --scheduler-replicas 50000,100000, --scheduler-stores etcd,sqlite, --leader-kills N, --simulated-nodes N, --simulated-replicas N, --node-loss-nodes N, --node-loss-replicas N, --node-loss-trials N, --rolling-update-trials N, --node-loss-real-trials N, --node-loss-real-replicas K, --false-eviction-minutes M, --false-eviction-baseline-minutes M, --false-eviction-nodes N, --mesh-seconds N, --mesh-rounds N, --mesh-connections N, --mesh-rate N, --mesh-subjects mesh,nginx,haproxy, --mesh-rolling-seconds N, --mesh-rolling-rate N, --endpoint-nodes N, --endpoint-trials N, --only store|apply|watch|agent|scheduler|scheduler-simulated|leader|node-loss|node-loss-real|false-evictions|rolling-update|endpoints|tcp-proxy|swarm-rolling-update|swarm-node-loss|mesh|mesh-rolling-update (or agent-start, agent-crash, agent-rss), --markdown FILE"),
            };
        }

        return options;
    }

    public bool Runs(string scenario) => Only is null || Named(scenario);

    /// <summary>
    /// Scenarios that change the Docker engine's swarm membership (the Swarm baselines), and those
    /// that need nginx, HAProxy and wrk (the mesh), run only when <c>--only</c> names them, never
    /// as part of a run of everything.
    /// </summary>
    public bool Named(string scenario) => Only is not null && Only.Split(',').Contains(scenario, StringComparer.OrdinalIgnoreCase);
}
