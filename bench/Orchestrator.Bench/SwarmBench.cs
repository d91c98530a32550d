using System.Diagnostics;
using System.Globalization;
using Docker.DotNet.Models;
using Orchestrator.Cli.Dev;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Docker Swarm as the baseline, on the same machine and Docker engine, with the same image and
/// command. <c>swarm-rolling-update</c>: a 10-replica service, one environment variable changed
/// per trial, timed until all 10 running tasks (Swarm) or Ready replicas (orc, one in-process
/// node agent on the Docker runtime) have the new template. Both sides are polled every 100 ms.
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
                var service = await swarm.Client.Swarm.InspectServiceAsync(serviceId);
                var spec = service.Spec ?? throw new InvalidOperationException($"swarm: service {serviceId} has no spec");
                spec.TaskTemplate!.ContainerSpec!.Env = [$"VERSION={version}"];
                var started = Stopwatch.GetTimestamp();
                await swarm.Client.Swarm.UpdateServiceAsync(serviceId, new ServiceUpdateParameters { Service = spec, Version = (long)(service.Version?.Index ?? 0) });
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
        await using var cluster = await DevCluster.StartAsync(
            new DevClusterOptions
            {
                DataDir = Path.Combine(dir, "swarm-compare-cluster"),
                Listen = "127.0.0.1:0",
                HttpListen = "127.0.0.1:0",
                AgentHttpPort = 0,
                Nodes = 1,
                Runtime = RuntimeMode.Docker,
                FirstPort = 27000,
            },
            CancellationToken.None);
        using var driver = new ClusterDriver(cluster.GrpcUrl);
        await AgentBench.WaitNodesAsync(cluster);
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
