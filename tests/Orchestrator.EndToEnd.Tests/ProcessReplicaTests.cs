using System.Diagnostics;
using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// A 3-node cluster on the process runtime running orc-demo as a 3-replica service: the whole path
/// from <c>apply</c> through scheduling, the agents' supervisors and probes, back to the status
/// the API reports, with real processes that the tests kill and break.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ProcessReplicaTests : IAsyncLifetime
{
    private const string Owner = "service/demo";

    private TestCluster _cluster = null!;

    private static string DemoDll => Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");

    /// <summary>
    /// Probes tolerant of a loaded 2-core machine: liveness starts after 5 s and needs three failed
    /// checks in a row, 2 s apart with a 2 s timeout each, so a slow start is never mistaken for a hang.
    /// </summary>
    private static string DemoService(int replicas = 3) => $$"""
        kind: Service
        name: demo
        replicas: {{replicas.ToString(CultureInfo.InvariantCulture)}}
        driver: process
        command: ["dotnet", "{{DemoDll}}"]
        resources: { cpu: 100m, memory: 128Mi }
        ports:
          - { name: http }
        health:
          readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
          liveness: { http: /healthz, port: http, interval: 2s, timeout: 2s, failureThreshold: 3, initialDelay: 5s }
        restart: always
        stopGracePeriod: 5s
        placement: { strategy: spread }
        """;

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(DemoDll), $"{DemoDll} is missing: the project reference to examples/demo-app builds it beside the tests");
        _cluster = await TestCluster.StartAsync(nodes: 3);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    private async Task<IReadOnlyList<Replica>> RunDemoAsync(int replicas = 3)
    {
        var applied = await _cluster.ApplyAsync(DemoService(replicas));
        Assert.Equal(ApplyOutcome.Created, Assert.Single(applied.Results).Outcome);
        return await _cluster.WaitReadyAsync(Owner, replicas);
    }

    [Fact]
    public async Task A_three_replica_service_becomes_ready_and_each_replica_answers_with_its_id()
    {
        var replicas = await RunDemoAsync();

        Assert.Equal(3, replicas.Select(r => r.Meta.Name).Distinct().Count());
        foreach (var replica in replicas)
        {
            var greeting = await _cluster.GetTextAsync(replica);
            Assert.StartsWith($"hello from {replica.Meta.Name} on {replica.Spec.Node} (service demo", greeting, StringComparison.Ordinal);
            Assert.Equal(0, replica.Status.Restarts);
        }
    }

    [Fact]
    public async Task A_replica_killed_with_SIGKILL_is_restarted_once_and_ready_again()
    {
        var victim = (await RunDemoAsync())[0];
        var before = await _cluster.DemoInfoAsync(victim);

        using (var process = Process.GetProcessById(before.Pid))
        {
            process.Kill(); // SIGKILL on Linux
        }

        var restarted = await _cluster.WaitReplicaAsync(
            victim.Meta.Name,
            r => r.Status.Restarts == 1 && r.Status.Phase == Phase.Ready,
            "restarted once and Ready");
        var after = await _cluster.DemoInfoAsync(restarted);

        Assert.NotEqual(before.Pid, after.Pid);
        Assert.Equal(victim.Meta.Name, after.ReplicaId);
        Assert.Equal(128 + 9, restarted.Status.ExitCode);
        Assert.False(HostProcesses.IsAlive(before.Pid));
        var others = (await _cluster.ReplicasAsync(Owner)).Where(r => r.Meta.Name != victim.Meta.Name);
        Assert.All(others, r => Assert.Equal(0, r.Status.Restarts));
    }

    [Fact]
    public async Task A_replica_failing_its_liveness_probe_is_restarted_with_reason_Unhealthy()
    {
        var victim = (await RunDemoAsync())[1];
        var before = await _cluster.DemoInfoAsync(victim);

        await _cluster.PostAsync(victim, "fail-health");

        var restarted = await _cluster.WaitReplicaAsync(
            victim.Meta.Name,
            r => r.Status.Restarts == 1 && r.Status.Phase == Phase.Ready,
            "restarted once and Ready");
        var after = await _cluster.DemoInfoAsync(restarted);

        Assert.Equal("Unhealthy", restarted.Status.Reason);
        Assert.NotEqual(before.Pid, after.Pid);
        Assert.Equal("ok\n", await _cluster.GetTextAsync(restarted, "healthz"));
    }

    [Fact]
    public async Task An_agent_restarted_with_its_replicas_kept_re_adopts_them_without_starting_anything()
    {
        var replicas = await RunDemoAsync();
        var before = new Dictionary<string, DemoInfo>();
        foreach (var replica in replicas)
        {
            before[replica.Meta.Name] = await _cluster.DemoInfoAsync(replica);
        }

        // The node of the first replica: today's first-fit placer puts all three on one node.
        var node = _cluster.Cluster.Nodes.Single(n => n.Name == replicas[0].Spec.Node);
        var onNode = replicas.Where(r => r.Spec.Node == node.Name).Select(r => r.Meta.Name).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(onNode);
        await _cluster.Cluster.StopNodeAsync(node, keepReplicas: true, TestContext.Current.CancellationToken);
        Assert.All(onNode, id => Assert.True(HostProcesses.IsAlive(before[id].Pid), $"{id} should outlive its agent"));
        var restartedAt = TimeProvider.System.GetUtcNow();
        await _cluster.Cluster.StartNodeAsync(node, TestContext.Current.CancellationToken);

        // Re-registered: the new agent's heartbeats reach the control plane.
        await TestCluster.EventuallyAsync(
            async () => (await _cluster.Api.GetAsync(new GetRequest { Kind = ObjectKind.Node, Name = node.Name }, cancellationToken: TestContext.Current.CancellationToken)).Object.Node,
            n => n.Status?.State == NodeState.Ready && n.Status.LastHeartbeat?.ToDateTimeOffset() > restartedAt,
            $"{node.Name} to re-register",
            n => $"{n.Status?.State} last heartbeat {n.Status?.LastHeartbeat}");
        // Re-adopted: the new supervisor probes them and finds them ready.
        await TestCluster.EventuallyAsync(
            () => Task.FromResult(node.Supervisor!.Snapshot()),
            reports => onNode.All(id => reports.Any(r => r.ReplicaId == id && r.Status?.Phase == Phase.Ready)),
            $"the new agent of {node.Name} to report its replicas Ready",
            reports => string.Join("; ", reports.Select(r => $"{r.ReplicaId} {r.Status?.Phase}")));
        var after = await _cluster.WaitReadyAsync(Owner, 3);

        Assert.Equal(replicas.Select(r => r.Meta.Name), after.Select(r => r.Meta.Name));
        foreach (var replica in after)
        {
            var info = await _cluster.DemoInfoAsync(replica);
            Assert.Equal(before[replica.Meta.Name].Pid, info.Pid);
            Assert.Equal(before[replica.Meta.Name].StartedAt, info.StartedAt);
            Assert.Equal(0, replica.Status.Restarts);
        }

        var logs = await Orc.RunAsync("logs", "service/demo", "--server", _cluster.Server);
        Assert.Equal(3, logs.StdoutLines.Count(l => l.Contains(" starting: replica ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Disposing_the_cluster_leaves_no_replica_process_behind()
    {
        var replicas = await RunDemoAsync();
        var pids = new List<int>();
        foreach (var replica in replicas)
        {
            pids.Add((await _cluster.DemoInfoAsync(replica)).Pid);
        }

        IReadOnlyList<string> Ours() => HostProcesses.Matching([_cluster.DataDir], [.. replicas.Select(r => $"ORC_REPLICA_ID={r.Meta.Name}")]);
        // The search finds them while they run (a wrapper and an orc-demo per replica), so an empty result below means something.
        Assert.True(Ours().Count >= 6, string.Join("\n", Ours()));

        await _cluster.DisposeAsync();

        Assert.All(pids, pid => Assert.False(HostProcesses.IsAlive(pid), $"orc-demo pid {pid} still runs"));
        Assert.Empty(Ours());
    }

    [Fact]
    public async Task Orc_logs_with_tail_shows_the_demos_startup_line()
    {
        var replica = (await RunDemoAsync(replicas: 1))[0];

        var result = await Orc.RunAsync("logs", replica.Meta.Name, "--tail", "5", "--server", _cluster.Server);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.InRange(result.StdoutLines.Length, 1, 5);
        Assert.Contains(
            result.StdoutLines,
            l => l.Contains($"orc-demo[", StringComparison.Ordinal) && l.Contains($"starting: replica {replica.Meta.Name} on {replica.Spec.Node}", StringComparison.Ordinal));
    }
}
