using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// Node failure with real processes: a 2-node cluster on the process runtime runs orc-demo on both
/// nodes; one agent goes away abruptly while its replica keeps running (as when an agent crashes or
/// its node is cut off). The control plane marks that replica Lost after the grace, and when the
/// agent comes back it is told to stop the replica it no longer owns.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class NodeLifecycleTests : IAsyncLifetime
{
    private const string Owner = "service/demo";

    private TestCluster _cluster = null!;

    private static string DemoDll => Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string DemoService => $$"""
        kind: Service
        name: demo
        replicas: 2
        driver: process
        command: ["dotnet", "{{DemoDll}}"]
        resources: { cpu: 100m, memory: 128Mi }
        ports:
          - { name: http }
        health:
          readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
        restart: always
        stopGracePeriod: 5s
        placement: { strategy: spread }
        """;

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(DemoDll), $"{DemoDll} is missing: the project reference to examples/demo-app builds it beside the tests");
        _cluster = await TestCluster.StartAsync(nodes: 2);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_node_whose_agent_vanishes_has_its_replica_Lost_and_replaced_and_when_it_returns_the_old_replica_is_stopped()
    {
        await _cluster.ApplyAsync(DemoService);
        var replicas = await _cluster.WaitReadyAsync(Owner, 2);
        Assert.Equal(2, replicas.Select(r => r.Spec.Node).Distinct().Count());
        var victim = replicas[0];
        var survivor = replicas[1];
        var pid = (await _cluster.DemoInfoAsync(victim)).Pid;
        var node = _cluster.Cluster.Nodes.Single(n => n.Name == victim.Spec.Node);

        // The agent goes away with its replica still running: its stream ends without a goodbye.
        await _cluster.Cluster.StopNodeAsync(node, keepReplicas: true, Ct);
        var stoppedAt = TimeProvider.System.GetUtcNow();
        Assert.True(HostProcesses.IsAlive(pid), "the replica should outlive its agent");

        // The replica's NodeLost event (the service controller then replaces the Lost replica and
        // deletes it, so the replica itself may be gone by the time it is read), then the node's.
        var events = await TestCluster.EventuallyAsync(
            async () => (await _cluster.Api.ListAsync(new ListRequest { Kind = ObjectKind.Event }, cancellationToken: Ct)).Items.Select(o => o.Event).ToList(),
            events => events.Any(e => e.Object.Kind == "node" && e.Object.Name == node.Name && e.Reason == "NodeLost")
                && events.Any(e => e.Object.Kind == "replica" && e.Object.Name == victim.Meta.Name && e.Reason == "NodeLost"),
            "NodeLost events on the node and its replica",
            events => string.Join("; ", events.Select(e => $"{e.Object.Kind}/{e.Object.Name} {e.Reason}")));
        var lost = events.First(e => e.Object.Kind == "replica" && e.Object.Name == victim.Meta.Name && e.Reason == "NodeLost");
        var after = lost.Time.ToDateTimeOffset() - stoppedAt;
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{victim.Meta.Name} marked Lost {after.TotalSeconds:0.00}s after its agent stopped (grace 3s)"));
        Assert.StartsWith($"node {node.Name} stopped sending heartbeats ", lost.Message, StringComparison.Ordinal);
        Assert.Equal(Phase.Ready, (await _cluster.ReplicaAsync(survivor.Meta.Name)).Status.Phase);

        // The service is whole again: a replacement runs Ready on the surviving node.
        var healed = await _cluster.WaitReadyAsync(Owner, 2);
        Assert.DoesNotContain(healed, r => r.Meta.Name == victim.Meta.Name);
        Assert.All(healed, r => Assert.Equal(survivor.Spec.Node, r.Spec.Node));

        // The agent comes back and re-adopts the still-running process; the control plane tells it
        // the replica is no longer its own, so it stops it, and the replica stays Lost.
        await _cluster.Cluster.StartNodeAsync(node, Ct);
        await TestCluster.EventuallyAsync(() => Task.FromResult(HostProcesses.IsAlive(pid)), alive => !alive, $"the old process {pid} of {victim.Meta.Name} to be stopped");
        var list = await _cluster.Api.ListAsync(new ListRequest { Kind = ObjectKind.Replica }, cancellationToken: Ct);
        Assert.DoesNotContain(list.Items, o => o.Replica.Meta.Name == victim.Meta.Name && o.Replica.Status?.Phase != Phase.Lost);
        await _cluster.WaitNodesReadyAsync();
    }
}
