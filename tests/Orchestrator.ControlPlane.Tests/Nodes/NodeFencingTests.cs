using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>
/// A node goes silent, is judged lost, and comes back: the real node stream on SQLite and a fake
/// clock, with the node lifecycle controller's ticks driven by the test.
/// </summary>
public sealed class NodeFencingTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_silent_node_turns_NotReady_its_replicas_Lost_and_when_it_returns_it_is_told_to_stop_them()
    {
        await using var cp = await NodeCluster.StartAsync(cancellationToken: Ct);
        // Unfenced: no leadership term runs here to fence the loop's writes with.
        var loop = ActivatorUtilities.CreateInstance<NodeLifecycleLoop>(cp.App.Services, cp.Store);

        // Controllers are off here (the test drives the lifecycle loop's ticks), so the leader-only
        // liveness watcher is started by hand: it turns the silent node NotReady.
        var liveness = cp.App.Services.GetRequiredService<NodeLivenessWatcher>();
        await liveness.StartAsync(Ct);

        // Each step waits for the control plane to answer; a missing answer fails the test with the
        // step it waited at instead of hanging the run.
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        guard.CancelAfter(TimeSpan.FromMinutes(1));
        try
        {
            await RunAsync(cp, loop, guard.Token);
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await liveness.StopAsync(stop.Token);
        }
    }

    private static async Task RunAsync(NodeCluster cp, NodeLifecycleLoop loop, CancellationToken ct)
    {
        await cp.PutReplicaAsync("web-a", "node-2", cancellationToken: ct);
        await cp.PutReplicaAsync("web-b", "node-2", cancellationToken: ct);
        var seed = new ClusterSeed(cp.Store, NodeCluster.Start);
        await seed.AddNodeAsync("node-1", cancellationToken: ct);
        await seed.AddNodeAsync("node-3", cancellationToken: ct);

        await using (var agent = await cp.ConnectAsync("node-2", cancellationToken: ct))
        {
            var (_, set) = await agent.HandshakeAsync(ct);
            Assert.Equal(["web-a", "web-b"], set.Assignments.Select(a => a.Replica.Meta.Name).Order());
            await agent.ReportAsync("web-a", 1, new ReplicaStatus { Phase = Phase.Ready }, ct);
            await cp.WaitForAsync(ObjectKind.Replica, "web-a", o => o.Replica.Status?.Phase == Phase.Ready, ct);
            await loop.TickAsync(TimeSpan.Zero, ct);

            // The agent stays connected but falls silent past the grace (3s): its lease expires.
            cp.Time.Advance(TimeSpan.FromSeconds(4));
            var node = (await cp.WaitForAsync(ObjectKind.Node, "node-2", o => o.Node.Status?.State == NodeState.NotReady, ct)).Node;
            Assert.Equal("HeartbeatsStopped", node.Status.Reason);
            Assert.Equal(StatusCode.Unavailable, (await agent.EndedAsync(ct)).StatusCode);
        }

        await loop.TickAsync(Tick, ct);

        var a = await cp.GetReplicaAsync("web-a", ct);
        Assert.Equal(Phase.Lost, a.Status.Phase);
        Assert.Equal("node node-2 stopped sending heartbeats 3.0s ago (grace 3.0s); the replica is presumed gone with it", a.Status.Message);
        Assert.Equal(Phase.Lost, (await cp.GetReplicaAsync("web-b", ct)).Status.Phase);

        // The agent comes back still running web-a: the full set leaves both out, so it stops them,
        // and its report cannot bring web-a back from Lost.
        var register = FakeAgent.Registration("node-2");
        register.Running.Add(new ReplicaReport { ReplicaId = "web-a", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Ready } });
        await using var back = await cp.ConnectAsync("node-2", register, ct);
        var (_, after) = await back.HandshakeAsync(ct);
        Assert.Empty(after.Assignments);
        Assert.Equal(Phase.Lost, (await cp.GetReplicaAsync("web-a", ct)).Status.Phase);

        await back.ReportAsync("web-a", 1, new ReplicaStatus { Phase = Phase.Running }, ct);
        var stop = await back.NextAsync(ControlMessage.MessageOneofCase.Delta, ct);
        Assert.Equal(["web-a"], stop.Delta.Removed);
        Assert.Equal(Phase.Lost, (await cp.GetReplicaAsync("web-a", ct)).Status.Phase);

        // A later change to a Lost replica's spec is not sent as something to run (at most as a
        // removal): the next delta that asks for something to run is web-c's.
        await cp.PutReplicaAsync("web-b", "node-2", generation: 2, cancellationToken: ct);
        await cp.PutReplicaAsync("web-c", "node-2", cancellationToken: ct);
        var next = await back.NextAsync(ControlMessage.MessageOneofCase.Delta, ct);
        if (next.Delta.Upserted.Count == 0)
        {
            Assert.Equal(["web-b"], next.Delta.Removed);
            next = await back.NextAsync(ControlMessage.MessageOneofCase.Delta, ct);
        }

        Assert.Equal(["web-c"], next.Delta.Upserted.Select(u => u.Replica.Meta.Name));
        Assert.Equal(NodeState.Ready, (await cp.GetNodeAsync("node-2", ct)).Status.State);
    }
}
