using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// The node lifecycle controller on a real SQLite store and a <see cref="FakeTimeProvider"/>: the
/// test drives its ticks (with the gap since the last one) and advances the clock, so a node failure,
/// a pause or a mass silence plays out in milliseconds with nothing left to timing.
/// </summary>
public sealed class NodeLifecycleLoopTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);
    private readonly TempDirectory _dir = new("orc-lifecycle");
    private readonly FakeTimeProvider _time = new(Start);
    private SqliteStateStore _store = null!;
    private NodeLifecycleLoop _loop = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);
        var controllers = new ControllerOptions();
        _loop = new NodeLifecycleLoop(
            _store,
            new ClusterObjects(_store),
            new NodeStatusWriter(_store, new ClusterObjects(_store), _time),
            new NodeStreamOptions(),
            new NodeLifecycleOptions(),
            controllers,
            new ControlPlaneOptions { MemberId = "cp-1" },
            new EventRecorder(_store, _time, controllers, NullLogger<EventRecorder>.Instance),
            _time,
            NullLogger<NodeLifecycleLoop>.Instance);
        var seed = new ClusterSeed(_store, Start);
        foreach (var name in new[] { "node-1", "node-2", "node-3" })
        {
            await seed.AddNodeAsync(name, cancellationToken: Ct);
        }

        await PutReplicaAsync("web-a", "node-2", Phase.Ready);
        await PutReplicaAsync("web-b", "node-2", Phase.Running);
        await PutReplicaAsync("web-c", "node-1", Phase.Ready);
        await PutReplicaAsync("web-d", "node-2", Phase.Succeeded);
    }

    public async ValueTask DisposeAsync()
    {
        _loop.Dispose();
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private async Task PutReplicaAsync(string id, string node, Phase phase)
    {
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = id },
            Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Node = node, Desired = DesiredState.Run, Generation = 1, Revision = 1 },
        };
        await _store.TxnAsync(
            Txn.Unconditional(TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(replica)), TxnOp.Put(StoreKeys.ReplicaStatus(id), ProtoJson.Encode(new ReplicaStatus { Phase = phase }))),
            Ct);
    }

    /// <summary>What the liveness watcher and the lease leave behind when a node's heartbeats stop: no key, status NotReady.</summary>
    private async Task SilenceAsync(string node, string reason = "HeartbeatsStopped")
    {
        var status = new NodeStatus { State = NodeState.NotReady, Reason = reason };
        await _store.TxnAsync(Txn.Unconditional(TxnOp.Delete(StoreKeys.NodeLiveness(node)), TxnOp.Put(StoreKeys.NodeStatus(node), ProtoJson.Encode(status))), Ct);
    }

    private async Task ReviveAsync(string node)
    {
        var status = new NodeStatus { State = NodeState.Ready };
        await _store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.NodeLiveness(node), "cp-1"u8.ToArray()), TxnOp.Put(StoreKeys.NodeStatus(node), ProtoJson.Encode(status))), Ct);
    }

    private async Task TickAsync(TimeSpan? advance = null)
    {
        _time.Advance(advance ?? Tick);
        await _loop.TickAsync(advance ?? Tick, Ct);
    }

    /// <summary>Regular ticks, as the loop's timer makes them.</summary>
    private async Task TicksAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await TickAsync();
        }
    }

    private async Task<ReplicaStatus> StatusAsync(string id) =>
        ProtoJson.Decode<ReplicaStatus>((await _store.GetAsync(StoreKeys.ReplicaStatus(id), 0, Ct)).Kv!.Value, id);

    private async Task<List<Event>> EventsAsync()
    {
        var list = await _store.ListAsync(StoreKeys.EventsPrefix, 0, 0, Ct);
        return list.Items.Select(kv => ProtoJson.Decode<Event>(kv.Value, kv.Key)).OrderBy(e => e.Time.ToDateTimeOffset()).ToList();
    }

    [Fact]
    public async Task A_node_whose_heartbeats_stopped_has_its_replicas_marked_lost_with_events()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TicksAsync(10);
        await SilenceAsync("node-2");

        await TickAsync();

        var a = await StatusAsync("web-a");
        Assert.Equal(Phase.Lost, a.Phase);
        Assert.Equal("NodeLost", a.Reason);
        Assert.Equal("node node-2 stopped sending heartbeats 3.0s ago (grace 3.0s); the replica is presumed gone with it", a.Message);
        Assert.Empty(a.Endpoints);
        Assert.Equal(Phase.Lost, (await StatusAsync("web-b")).Phase);
        Assert.Equal(Phase.Ready, (await StatusAsync("web-c")).Phase);
        Assert.Equal(Phase.Succeeded, (await StatusAsync("web-d")).Phase);
        Assert.Equal(2, _loop.MarkedLost);

        var events = await EventsAsync();
        Assert.Equal(["replica/web-a", "replica/web-b"], events.Where(e => e.Object.Kind == "replica").Select(e => $"{e.Object.Kind}/{e.Object.Name}").Order());
        var node = Assert.Single(events, e => e.Object.Kind == "node");
        Assert.Equal(("node-2", EventType.Warning, "NodeLost"), (node.Object.Name, node.Type, node.Reason));
        Assert.Equal("node node-2 stopped sending heartbeats 3.0s ago (grace 3.0s); 2 replicas marked Lost: web-a, web-b", node.Message);

        // Level-triggered and idempotent: later ticks find nothing more to do and record nothing more.
        await TickAsync();
        await TickAsync();
        Assert.Equal(2, _loop.MarkedLost);
        Assert.Equal(events.Count, (await EventsAsync()).Count);
    }

    [Fact]
    public async Task A_lost_node_the_liveness_watcher_has_not_marked_yet_is_made_NotReady_before_its_replicas_are_lost()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TicksAsync(10);

        // The lease ran out but its status still says Ready (the watcher's write has not landed).
        await _store.TxnAsync(Txn.Unconditional(TxnOp.Delete(StoreKeys.NodeLiveness("node-2"))), Ct);
        var before = await _store.GetRevisionAsync(Ct);

        await TickAsync();

        var status = await _store.GetAsync(StoreKeys.NodeStatus("node-2"), 0, Ct);
        Assert.Equal((NodeState.NotReady, "HeartbeatsStopped"), (ProtoJson.Decode<NodeStatus>(status.Kv!.Value, "s").State, ProtoJson.Decode<NodeStatus>(status.Kv.Value, "s").Reason));
        var lost = await _store.GetAsync(StoreKeys.ReplicaStatus("web-a"), 0, Ct);
        Assert.Equal(Phase.Lost, ProtoJson.Decode<ReplicaStatus>(lost.Kv!.Value, "r").Phase);
        Assert.InRange(status.Kv.ModRevision, before + 1, lost.Kv.ModRevision - 1);
    }

    [Fact]
    public async Task A_replica_that_lands_on_a_lost_node_later_is_marked_lost_within_a_grace()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TicksAsync(10);
        await SilenceAsync("node-2");
        await TickAsync();
        await TickAsync();
        Assert.Equal(2, _loop.MarkedLost);

        // A binding decided before node-2 turned NotReady lands after its replicas were marked.
        await PutReplicaAsync("web-late", "node-2", Phase.Scheduled);
        await TicksAsync(6);

        Assert.Equal(Phase.Lost, (await StatusAsync("web-late")).Phase);
        Assert.Equal(3, _loop.MarkedLost);
    }

    [Fact]
    public async Task A_node_whose_agent_disconnected_is_lost_only_after_the_grace()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TicksAsync(10);
        await SilenceAsync("node-2", "AgentDisconnected");

        // Seen gone at the next tick, then given the 3s grace to reconnect.
        for (var i = 0; i < 6; i++)
        {
            await TickAsync();
            Assert.Equal(Phase.Ready, (await StatusAsync("web-a")).Phase);
        }

        await TickAsync();
        Assert.Equal(Phase.Lost, (await StatusAsync("web-a")).Phase);
    }

    [Fact]
    public async Task A_node_that_comes_back_within_the_grace_keeps_its_replicas()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TicksAsync(10);
        await SilenceAsync("node-2", "AgentDisconnected");
        await TickAsync();
        await ReviveAsync("node-2");

        for (var i = 0; i < 10; i++)
        {
            await TickAsync();
        }

        Assert.Equal(Phase.Ready, (await StatusAsync("web-a")).Phase);
        Assert.Equal(0, _loop.MarkedLost);
    }

    [Fact]
    public async Task A_control_plane_that_just_started_gives_a_node_silent_since_before_a_fresh_grace()
    {
        await SilenceAsync("node-2");

        // Started now: node-2 has been silent for who knows how long, yet it gets the full grace.
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        for (var i = 0; i < 5; i++)
        {
            await TickAsync();
            Assert.Equal(Phase.Ready, (await StatusAsync("web-a")).Phase);
        }

        await TickAsync();
        Assert.Equal(Phase.Lost, (await StatusAsync("web-a")).Phase);
    }

    [Fact]
    public async Task A_paused_control_plane_gives_every_node_a_fresh_grace_and_says_so()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TickAsync();

        // Frozen for 30s; node-2's lease expired meanwhile.
        await SilenceAsync("node-2");
        await TickAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(Phase.Ready, (await StatusAsync("web-a")).Phase);
        var paused = Assert.Single(await EventsAsync(), e => e.Reason == "ControlPlanePaused");
        Assert.Equal(("controlplane", "cp-1", EventType.Warning), (paused.Object.Kind, paused.Object.Name, paused.Type));
        Assert.Equal("control plane cp-1 did not run for 30.0s (it expects to every 0.5s; a long GC pause or a frozen VM?); every node gets a fresh 3.0s grace before it is judged", paused.Message);

        for (var i = 0; i < 5; i++)
        {
            await TickAsync();
            Assert.Equal(Phase.Ready, (await StatusAsync("web-a")).Phase);
        }

        await TickAsync();
        Assert.Equal(Phase.Lost, (await StatusAsync("web-a")).Phase);
    }

    [Fact]
    public async Task When_most_nodes_go_silent_at_once_nothing_is_lost_until_most_are_heard_from_again()
    {
        await _loop.TickAsync(TimeSpan.Zero, Ct);
        await TicksAsync(10);
        await SilenceAsync("node-1");
        await SilenceAsync("node-2");

        for (var i = 0; i < 20; i++)
        {
            await TickAsync();
        }

        Assert.Equal(Phase.Ready, (await StatusAsync("web-a")).Phase);
        Assert.Equal(Phase.Ready, (await StatusAsync("web-c")).Phase);
        var held = Assert.Single(await EventsAsync(), e => e.Reason == "EvictionsHeld");
        Assert.StartsWith("2 of 3 nodes are silent at once (node-1, node-2): more than 50% of the cluster", held.Message, StringComparison.Ordinal);

        // node-1 answers again: one silent node of three is judged as usual.
        await ReviveAsync("node-1");
        await TickAsync();

        Assert.Equal(Phase.Lost, (await StatusAsync("web-a")).Phase);
        Assert.Equal(Phase.Ready, (await StatusAsync("web-c")).Phase);
        Assert.Single(await EventsAsync(), e => e.Reason == "EvictionsResumed");
    }

    [Fact]
    public async Task A_draining_node_shows_its_progress_in_its_status_and_an_event_when_done()
    {
        var commands = new NodeCommands(_store, _time);
        await commands.SetSchedulingAsync("node-2", NodeSchedulingChange.Drain, Ct);
        await _loop.TickAsync(TimeSpan.Zero, Ct);

        var status = ProtoJson.Decode<NodeStatus>((await _store.GetAsync(StoreKeys.NodeStatus("node-2"), 0, Ct)).Kv!.Value, "node-2");
        Assert.Equal(2, status.DrainRemaining);
        Assert.Null(status.DrainCompletedAt);

        await _store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ReplicaStatus("web-a"), ProtoJson.Encode(new ReplicaStatus { Phase = Phase.Succeeded })), TxnOp.Delete(StoreKeys.Replica("web-b"))), Ct);
        await TickAsync();

        status = ProtoJson.Decode<NodeStatus>((await _store.GetAsync(StoreKeys.NodeStatus("node-2"), 0, Ct)).Kv!.Value, "node-2");
        Assert.Equal(0, status.DrainRemaining);
        Assert.Equal(_time.GetUtcNow(), status.DrainCompletedAt.ToDateTimeOffset());
        var drained = Assert.Single(await EventsAsync(), e => e.Reason == "Drained");
        Assert.Equal("node node-2 is drained: no replica is left on it (orc node uncordon node-2 to use it again)", drained.Message);

        // Uncordon clears the drain and, on the next tick, its progress.
        await commands.SetSchedulingAsync("node-2", NodeSchedulingChange.Uncordon, Ct);
        await TickAsync();
        status = ProtoJson.Decode<NodeStatus>((await _store.GetAsync(StoreKeys.NodeStatus("node-2"), 0, Ct)).Kv!.Value, "node-2");
        Assert.Null(status.DrainCompletedAt);
    }
}
