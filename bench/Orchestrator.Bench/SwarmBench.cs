using System.Diagnostics;
using System.Globalization;
using Docker.DotNet.Models;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Docker Swarm as the baseline, on the same machine and Docker engine, with the same image and
/// command. <c>swarm-rolling-update</c>: a 10-replica service, one environment variable changed
/// per trial, timed until all 10 running tasks (Swarm) or Ready replicas (orc, one in-process
/// node agent on the Docker runtime) have the new template. <c>swarm-node-loss</c>: the same
/// service on two nodes; Swarm's second node is a second dockerd (<see cref="SecondDockerd"/>)
/// killed with kill -9, orc's is a second in-process node agent stopped with its containers left
/// running; timed until all 10 run on the first node again. Both sides are polled every 100 ms.
/// These scenarios run only when <c>--only</c> names them (they init and leave a swarm).
/// </summary>
internal static class SwarmBench
{
    public const int Replicas = 10;

    /// <summary>
    /// A workload that stops at once on SIGTERM (a shell waiting on sleep, with a trap), so neither
    /// side's number holds a kill after the stop grace period (10 s by default on both).
    /// </summary>
    public static readonly IList<string> WorkloadCommand = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"];

    public static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    public static async Task RunRollingUpdateAsync(string dir, BenchOptions options, Report report)
    {
        if (await MissingAsync() is { } missing)
        {
            Console.WriteLine($"swarm-rolling-update: skipped, {missing}");
            return;
        }

        var runId = Guid.NewGuid().ToString("N")[..8];
        var image = ImageName(runId);
        Console.WriteLine($"swarm rolling update: a {Replicas}-replica service, {options.RollingUpdateTrials} environment changes, on Docker Swarm then on orc (one node agent, Docker runtime), same image {image} and command; polled every {Poll.TotalMilliseconds} ms");
        await BuildImageAsync(dir, image, dockerHost: null);
        try
        {
            var swarm = await SwarmRollingUpdateAsync(image, runId, options);
            var orc = await OrcRollingUpdateAsync(dir, image, options);
            var scenario = $"rolling update vs Swarm, {Replicas} docker replicas, {options.RollingUpdateTrials} updates";
            report.Add(new ValueRow(scenario, "Swarm: update to 10 new tasks running", Workload.Median(swarm.Tasks), "ms", "", null, $"median; trials: {Workload.Ms(swarm.Tasks)} ms"));
            report.Add(new ValueRow(scenario, "Swarm: update to UpdateStatus completed", Workload.Median(swarm.Completed), "ms", "", null, $"median, includes the 5 s --update-monitor; trials: {Workload.Ms(swarm.Completed)} ms"));
            report.Add(new ValueRow(
                scenario,
                "orc: apply to rollout Complete, 10 new Ready",
                Workload.Median(orc),
                "ms",
                "Swarm: 10 new tasks running",
                Workload.Median(orc) / Workload.Median(swarm.Tasks),
                $"median; trials: {Workload.Ms(orc)} ms; time ratio orc / Swarm, lower is better"));
        }
        finally
        {
            await Command.RunAsync("docker", ["rmi", "-f", image]);
        }
    }

    public static async Task RunNodeLossAsync(string dir, BenchOptions options, Report report)
    {
        if (await MissingAsync() is { } missing)
        {
            Console.WriteLine($"swarm-node-loss: skipped, {missing}");
            return;
        }

        var runId = Guid.NewGuid().ToString("N")[..8];
        var image = ImageName(runId);
        Console.WriteLine($"swarm node loss: a {Replicas}-replica service on two nodes, {options.NodeLossTrials} kills of the second; Docker Swarm (second dockerd on {SecondDockerd.Address}, kill -9) then orc (two in-process node agents on the Docker runtime, the second stopped with its replicas left running); polled every {Poll.TotalMilliseconds} ms");
        await BuildImageAsync(dir, image, dockerHost: null);
        try
        {
            var swarm = await SwarmNodeLossAsync(dir, image, runId, options);
            var orc = await OrcNodeLossAsync(dir, image, options);
            var scenario = $"node loss vs Swarm, {Replicas} docker replicas on 2 nodes, {options.NodeLossTrials} kills";
            report.Add(new ValueRow(scenario, "Swarm: kill -9 dockerd to node Down", Workload.Median(swarm.Down), "ms", "", null, $"median; trials: {Workload.Ms(swarm.Down)} ms"));
            report.Add(new ValueRow(scenario, "Swarm: kill -9 dockerd to 10 running on node 1", Workload.Median(swarm.Running), "ms", "", null, $"median; trials: {Workload.Ms(swarm.Running)} ms"));
            report.Add(new ValueRow(scenario, "orc: agent stop to node NotReady", Workload.Median(orc.NotReady), "ms", "", null, $"median, the agent's stream ended; trials: {Workload.Ms(orc.NotReady)} ms"));
            report.Add(new ValueRow(scenario, "orc: agent stop to its replicas Lost", Workload.Median(orc.Lost), "ms", "Swarm: node Down", Workload.Median(orc.Lost) / Workload.Median(swarm.Down), $"median, heartbeat grace 3 s; trials: {Workload.Ms(orc.Lost)} ms"));
            report.Add(new ValueRow(
                scenario,
                "orc: agent stop to 10 Ready on node 1",
                Workload.Median(orc.Ready),
                "ms",
                "Swarm: 10 running on node 1",
                Workload.Median(orc.Ready) / Workload.Median(swarm.Running),
                $"median; trials: {Workload.Ms(orc.Ready)} ms; time ratio orc / Swarm, lower is better"));
        }
        finally
        {
            await Command.RunAsync("docker", ["rmi", "-f", image]);
        }
    }

    private static async Task<(List<double> Down, List<double> Running)> SwarmNodeLossAsync(string dir, string image, string runId, BenchOptions options)
    {
        await using var swarm = await SwarmCluster.JoinAsync();
        Console.WriteLine($"  swarm: {(swarm.Created ? "swarm init --advertise-addr 127.0.0.1 (left at the end)" : "the engine is already a swarm manager (kept)")}");
        await using var second = await SecondDockerd.StartAsync(Path.Combine(dir, "swarm-node2"), swarm);
        await BuildImageAsync(dir, image, second.Socket);
        Console.WriteLine($"    swarm: second node {second.NodeId} joined from {second.Socket}");
        var label = $"orc-bench-{runId}";
        var created = await swarm.Client.Swarm.CreateServiceAsync(new ServiceCreateParameters
        {
            // Host network: the second engine's containers need no bridge of the first.
            Service = SwarmCluster.ServiceSpec(label, image, WorkloadCommand, "0", label, hostNetwork: true, Replicas),
        });
        var serviceId = created.ID ?? throw new InvalidOperationException("swarm: service create returned no id");
        List<double> down = [], running = [];
        try
        {
            for (var trial = 1; trial <= options.NodeLossTrials; trial++)
            {
                if (!second.Running)
                {
                    await second.RestartAsync();
                }

                // Swarm does not move tasks back to a node that returns; a forced update spreads them again.
                await swarm.UpdateServiceAsync(serviceId, spec => spec.TaskTemplate!.ForceUpdate = (ulong)trial);
                await swarm.WaitTasksAsync(
                    serviceId,
                    ts => Wanted(ts).Count == Replicas && Wanted(ts).All(t => t.Status?.State == TaskState.Running && t.Spec?.ForceUpdate == (ulong)trial) && Wanted(ts).Any(t => t.NodeID == second.NodeId),
                    Stopwatch.GetTimestamp(),
                    Poll,
                    Timeout,
                    $"{Replicas} tasks running, some on the second node");
                var onSecond = Wanted(await swarm.TasksAsync(serviceId)).Count(t => t.NodeID == second.NodeId);
                var started = Stopwatch.GetTimestamp();
                second.Kill();
                TimeSpan? downAt = null, runningAt = null;
                while (downAt is null || runningAt is null)
                {
                    await Task.Delay(Poll, TimeProvider.System);
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    if (downAt is null && await second.NodeStateAsync() == "down")
                    {
                        downAt = elapsed;
                    }

                    var tasks = await swarm.TasksAsync(serviceId);
                    if (runningAt is null && tasks.Count(t => t.NodeID == swarm.ManagerNodeId && t.DesiredState == TaskState.Running && t.Status?.State == TaskState.Running) >= Replicas)
                    {
                        runningAt = elapsed;
                    }

                    if (elapsed > Timeout)
                    {
                        throw new TimeoutException($"swarm: trial {trial}: second node killed {elapsed.TotalSeconds:F0} s ago, Down {downAt?.TotalSeconds:F1}; tasks: {SwarmCluster.Describe(tasks)}");
                    }
                }

                down.Add(downAt.Value.TotalMilliseconds);
                running.Add(runningAt.Value.TotalMilliseconds);
                Console.WriteLine($"    swarm: kill {trial} ({onSecond} tasks on the second node): node Down after {downAt.Value.TotalSeconds:F2} s, {Replicas} running on node 1 after {runningAt.Value.TotalSeconds:F2} s");
            }
        }
        finally
        {
            await swarm.RemoveServiceAsync(serviceId, label);
        }

        return (down, running);
    }

    private static List<TaskResponse> Wanted(IList<TaskResponse> tasks) => [.. tasks.Where(t => t.DesiredState == TaskState.Running)];

    private static string OrcNodeLossSpec(string image, int version) => $$"""
        kind: Service
        name: swarm-node-loss
        replicas: {{Replicas}}
        driver: docker
        image: {{image}}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
        env: { VERSION: "{{version}}" }
        resources: { cpu: 50m, memory: 32Mi }
        placement: { strategy: spread }
        update: { maxSurge: 1, maxUnavailable: 0 }
        """;

    private static async Task<(List<double> NotReady, List<double> Lost, List<double> Ready)> OrcNodeLossAsync(string dir, string image, BenchOptions options)
    {
        await using var cluster = await AgentBench.StartDockerClusterAsync(Path.Combine(dir, "swarm-node-loss-cluster"), nodes: 2, firstPort: 28000);
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        var (first, second) = (cluster.Nodes[0], cluster.Nodes[1]);
        List<double> notReady = [], lost = [], ready = [];
        try
        {
            for (var trial = 1; trial <= options.NodeLossTrials; trial++)
            {
                if (!second.Running)
                {
                    await cluster.StartNodeAsync(second, CancellationToken.None);
                    await WaitNodeStateAsync(driver, second.Name, NodeState.Ready);
                }

                // A new template, spread over both nodes again (a returning node gets no replicas back by itself).
                var applied = await driver.Client.ApplyAsync(new ApplyRequest { SourceName = "swarm-node-loss.yaml", Content = OrcNodeLossSpec(image, trial) });
                var revision = applied.Results.Single().Revision;
                await WaitAsync(driver, rs => rs.Count(r => r.Spec.Revision == revision && r.Status?.Phase == Phase.Ready) >= Replicas && rs.Any(r => r.Spec.Revision == revision && r.Spec.Node == second.Name), $"{Replicas} Ready of revision {revision}, some on {second.Name}");
                var victims = (await driver.ReplicasAsync("swarm-node-loss")).Where(r => r.Spec.Node == second.Name).Select(r => r.Meta.Name).ToHashSet(StringComparer.Ordinal);
                var onSecond = victims.Count;
                var started = Stopwatch.GetTimestamp();
                await cluster.StopNodeAsync(second, keepReplicas: true, CancellationToken.None);
                TimeSpan? notReadyAt = null, lostAt = null, readyAt = null;
                while (notReadyAt is null || lostAt is null || readyAt is null)
                {
                    await Task.Delay(Poll, TimeProvider.System);
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    if (notReadyAt is null && await NodeStateOfAsync(driver, second.Name) is NodeState.NotReady or NodeState.Down)
                    {
                        notReadyAt = elapsed;
                    }

                    var replicas = await driver.ReplicasAsync("swarm-node-loss");
                    if (lostAt is null && replicas.Where(r => victims.Contains(r.Meta.Name)).All(r => r.Status?.Phase == Phase.Lost))
                    {
                        lostAt = elapsed; // every replica of the node Lost (or already replaced and deleted)
                    }

                    if (readyAt is null && replicas.Count(r => r.Spec.Node == first.Name && r.Status?.Phase == Phase.Ready) >= Replicas)
                    {
                        readyAt = elapsed;
                    }

                    if (elapsed > Timeout)
                    {
                        throw new TimeoutException($"orc: trial {trial}: {second.Name} stopped {elapsed.TotalSeconds:F0} s ago, NotReady {notReadyAt?.TotalSeconds:F1}; {replicas.Count(r => r.Spec.Node == first.Name && r.Status?.Phase == Phase.Ready)} of {Replicas} Ready on {first.Name}");
                    }
                }

                notReady.Add(notReadyAt.Value.TotalMilliseconds);
                lost.Add(lostAt.Value.TotalMilliseconds);
                ready.Add(readyAt.Value.TotalMilliseconds);
                Console.WriteLine($"    orc: kill {trial} ({onSecond} replicas on {second.Name}): NotReady after {notReadyAt.Value.TotalSeconds:F2} s, its replicas Lost after {lostAt.Value.TotalSeconds:F2} s, {Replicas} Ready on {first.Name} after {readyAt.Value.TotalSeconds:F2} s");
            }
        }
        finally
        {
            if (!second.Running)
            {
                // Started again, its agent stops and removes the containers it left running.
                await cluster.StartNodeAsync(second, CancellationToken.None);
            }

            await driver.DeleteAndWaitGoneAsync("swarm-node-loss", Timeout);
            await AgentStartupBench.WaitContainersGoneAsync("orc.owner=service/swarm-node-loss");
        }

        return (notReady, lost, ready);
    }

    private static async Task<NodeState> NodeStateOfAsync(ClusterDriver driver, string node)
    {
        var got = await driver.Client.GetAsync(new GetRequest { Kind = ObjectKind.Node, Name = node });
        return got.Object?.Node?.Status?.State ?? NodeState.Unspecified;
    }

    private static async Task WaitNodeStateAsync(ClusterDriver driver, string node, NodeState state)
    {
        var started = Stopwatch.GetTimestamp();
        while (await NodeStateOfAsync(driver, node) != state)
        {
            if (Stopwatch.GetElapsedTime(started) > Timeout)
            {
                throw new TimeoutException($"orc: node {node} is not {state} after {Timeout.TotalMinutes} minutes");
            }

            await Task.Delay(Poll, TimeProvider.System);
        }
    }

    private static async Task WaitAsync(ClusterDriver driver, Func<IReadOnlyList<Replica>, bool> done, string what)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var replicas = await driver.ReplicasAsync("swarm-node-loss");
            if (done(replicas))
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > Timeout)
            {
                throw new TimeoutException($"orc: {what} not reached after {Timeout.TotalMinutes} minutes; replicas: {string.Join(", ", replicas.Select(r => $"{r.Meta.Name} rev {r.Spec.Revision} on {r.Spec.Node} {r.Status?.Phase}"))}");
            }

            await Task.Delay(Poll, TimeProvider.System);
        }
    }

    /// <summary>Null when Docker and busybox are there; otherwise what is missing.</summary>
    public static async Task<string?> MissingAsync()
    {
        if (!File.Exists(Workload.Busybox))
        {
            return $"it needs a static busybox at {Workload.Busybox} (apt-get install busybox-static)";
        }

        try
        {
            return (await Command.RunAsync("docker", ["version", "--format", "{{.Server.Version}}"])).ExitCode == 0 ? null : "no Docker daemon answers (docker version)";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "there is no docker CLI (apt-get install docker.io)";
        }
    }

    /// <summary>
    /// The image's name points at a registry on a closed loopback port: Swarm tries to pull the image
    /// of every task before it falls back to the local copy, and this makes that try fail at once
    /// instead of going out to Docker Hub.
    /// </summary>
    public static string ImageName(string runId) => $"127.0.0.1:9/orc-bench-swarm:{runId}";

    /// <summary>The busybox image of tests/testassets/images/busybox, built offline on the engine at <paramref name="dockerHost"/> (default: DOCKER_HOST or the local socket).</summary>
    public static async Task BuildImageAsync(string dir, string image, string? dockerHost)
    {
        var context = Path.Combine(dir, "swarm-image");
        if (!Directory.Exists(context))
        {
            Directory.CreateDirectory(context);
            File.Copy(Workload.Busybox, Path.Combine(context, "busybox"));
            await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), """
                FROM scratch
                COPY busybox /bin/busybox
                RUN ["/bin/busybox", "--install", "-s", "/bin"]
                """);
        }

        await Command.CheckedAsync("docker", [.. dockerHost is null ? Array.Empty<string>() : ["-H", dockerHost], "build", "-q", "-t", image, context]);
    }

    private static async Task<(List<double> Tasks, List<double> Completed)> SwarmRollingUpdateAsync(string image, string runId, BenchOptions options)
    {
        await using var swarm = await SwarmCluster.JoinAsync();
        Console.WriteLine($"  swarm: {(swarm.Created ? "swarm init --advertise-addr 127.0.0.1 (left at the end)" : "the engine is already a swarm manager (kept)")}");
        var label = $"orc-bench-{runId}";
        var created = await swarm.Client.Swarm.CreateServiceAsync(new ServiceCreateParameters
        {
            Service = SwarmCluster.ServiceSpec(label, image, WorkloadCommand, "0", label, hostNetwork: false, Replicas),
        });
        var serviceId = created.ID ?? throw new InvalidOperationException("swarm: service create returned no id");
        List<double> tasks = [], completed = [];
        try
        {
            var first = await swarm.WaitTasksAsync(serviceId, ts => AllOn(ts, "0"), Stopwatch.GetTimestamp(), Poll, Timeout, $"{Replicas} tasks running");
            Console.WriteLine($"    swarm: {Replicas} tasks running {first.TotalSeconds:F2} s after service create");
            for (var trial = 1; trial <= options.RollingUpdateTrials; trial++)
            {
                var version = trial.ToString(CultureInfo.InvariantCulture);
                var started = Stopwatch.GetTimestamp();
                await swarm.UpdateServiceAsync(serviceId, spec => spec.TaskTemplate!.ContainerSpec!.Env = [$"VERSION={version}"]);
                var running = await swarm.WaitTasksAsync(serviceId, ts => AllOn(ts, version), started, Poll, Timeout, $"{Replicas} tasks of VERSION={version} running");
                TimeSpan done;
                while (true)
                {
                    var state = (await swarm.Client.Swarm.InspectServiceAsync(serviceId)).UpdateStatus?.State;
                    done = Stopwatch.GetElapsedTime(started);
                    if (state == "completed")
                    {
                        break;
                    }

                    if (state is "rollback_started" or "rollback_completed" or "paused" or "rollback_paused" || done > Timeout)
                    {
                        throw new InvalidOperationException($"swarm: update to VERSION={version} is {state} after {done.TotalSeconds:F1} s; tasks: {SwarmCluster.Describe(await swarm.TasksAsync(serviceId))}");
                    }

                    await Task.Delay(Poll, TimeProvider.System);
                }

                tasks.Add(running.TotalMilliseconds);
                completed.Add(done.TotalMilliseconds);
                Console.WriteLine($"    swarm: update {trial}: {Replicas} new tasks running after {running.TotalSeconds:F2} s, UpdateStatus completed after {done.TotalSeconds:F2} s");
            }
        }
        finally
        {
            await swarm.RemoveServiceAsync(serviceId, label);
        }

        return (tasks, completed);
    }

    /// <summary>
    /// Every task Swarm still wants running has the given version and is running, and there are
    /// <see cref="Replicas"/> of them (old tasks are asked to shut down as their replacements run).
    /// </summary>
    private static bool AllOn(IList<TaskResponse> tasks, string version)
    {
        var wanted = tasks.Where(t => t.DesiredState == TaskState.Running).ToList();
        return wanted.Count == Replicas && wanted.All(t => t.Status?.State == TaskState.Running && SwarmCluster.HasVersion(t, version));
    }

    private static string OrcSpec(string image, string version) => $$"""
        kind: Service
        name: swarm-compare
        replicas: {{Replicas}}
        driver: docker
        image: {{image}}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
        env: { VERSION: "{{version}}" }
        resources: { cpu: 50m, memory: 32Mi }
        update: { maxSurge: 1, maxUnavailable: 0 }
        """;

    private static async Task<List<double>> OrcRollingUpdateAsync(string dir, string image, BenchOptions options)
    {
        await using var cluster = await AgentBench.StartDockerClusterAsync(Path.Combine(dir, "swarm-compare-cluster"), nodes: 1, firstPort: 27000);
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        var times = new List<double>();
        try
        {
            for (var version = 0; version <= options.RollingUpdateTrials; version++)
            {
                var started = Stopwatch.GetTimestamp();
                var applied = await driver.Client.ApplyAsync(new ApplyRequest { SourceName = "swarm-compare.yaml", Content = OrcSpec(image, version.ToString(CultureInfo.InvariantCulture)) });
                var revision = applied.Results.Single().Revision;
                var elapsed = await WaitRolloutAsync(driver, revision, started);
                if (version == 0)
                {
                    Console.WriteLine($"    orc: {Replicas} replicas Ready {elapsed.TotalSeconds:F2} s after apply");
                }
                else
                {
                    times.Add(elapsed.TotalMilliseconds);
                    Console.WriteLine($"    orc: update {version} (revision {revision}): rollout Complete with {Replicas} new Ready after {elapsed.TotalSeconds:F2} s");
                }
            }
        }
        finally
        {
            await driver.DeleteAndWaitGoneAsync("swarm-compare", Timeout);
            await AgentStartupBench.WaitContainersGoneAsync("orc.owner=service/swarm-compare");
        }

        return times;
    }

    /// <summary>Polls until the service says rollout Complete for <paramref name="revision"/> and <see cref="Replicas"/> of its replicas are Ready.</summary>
    private static async Task<TimeSpan> WaitRolloutAsync(ClusterDriver driver, long revision, long started)
    {
        while (true)
        {
            var got = await driver.Client.GetAsync(new GetRequest { Kind = ObjectKind.Service, Name = "swarm-compare" });
            var status = got.Object?.Service?.Status;
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (status is { Rollout: RolloutState.Complete } && status.CurrentRevision == revision)
            {
                var replicas = await driver.ReplicasAsync("swarm-compare");
                if (replicas.Count(r => r.Spec.Revision == revision && r.Status?.Phase == Phase.Ready) >= Replicas)
                {
                    return elapsed;
                }
            }

            if (elapsed > Timeout)
            {
                throw new TimeoutException($"orc: revision {revision}: rollout {status?.Rollout} ({status?.Reason} {status?.Message}) after {Timeout.TotalMinutes} minutes");
            }

            await Task.Delay(Poll, TimeProvider.System);
        }
    }
}
