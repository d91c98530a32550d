using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Tests.Controllers;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>The placement loop over a real SQLite store on the fake clock: what it binds, what it leaves pending, and when it tries again.</summary>
public sealed class PlacementLoopTests : IAsyncLifetime
{
    private const long Mi = 1024 * 1024;
    private readonly TempDirectory _dir = new("orc-placement");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(PlacementLoop Loop, Task Run)> _loops = [];
    private SqliteStateStore? _store;
    private int _created;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var (loop, _) in _loops)
        {
            await loop.StopAsync(CancellationToken.None);
            loop.Dispose();
        }

        _stop.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<PlacementLoop> StartLoopAsync(SchedulerOptions? options = null)
    {
        var controllerOptions = new ControllerOptions();
        var events = new EventRecorder(Store, _time, controllerOptions, NullLogger<EventRecorder>.Instance);
        var loop = new PlacementLoop(Store, Scheduler.CreateDefault(options), _time, controllerOptions, events, NullLogger<PlacementLoop>.Instance);
        await loop.StartAsync(Ct);
        _loops.Add((loop, loop.ExecuteTask!));
        return loop;
    }

    private async Task AddNodeAsync(string name, long cpu = 1000, long memory = 1024 * Mi, NodeState state = NodeState.Ready, bool cordoned = false)
    {
        var info = new NodeInfo { Address = "127.0.0.1", Allocatable = new Resources { CpuMillis = cpu, MemoryBytes = memory }, Ports = new PortRange { First = 20000, Last = 20099 } };
        info.Drivers.Add(Driver.Process);
        var node = new Node { Meta = new ObjectMeta { Name = name }, Info = info, Spec = new NodeSpec { Cordoned = cordoned } };
        await Store.TxnAsync(Txn.Unconditional(
            TxnOp.Put(StoreKeys.Node(name), ProtoJson.Encode(node)),
            TxnOp.Put(StoreKeys.NodeStatus(name), ProtoJson.Encode(new NodeStatus { State = state }))), Ct);
    }

    private async Task<string> AddReplicaAsync(string service, long cpu = 250, long memory = 128 * Mi)
    {
        var id = $"{service}-{++_created:D3}";
        var template = new ReplicaTemplate { Driver = Driver.Process, Resources = new Resources { CpuMillis = cpu, MemoryBytes = memory }, Placement = new Placement { Strategy = PlacementStrategy.Spread } };
        template.Ports.Add(new PortSpec { Name = "http", Port = 8080 });
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = id, CreatedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(_time.GetUtcNow().AddSeconds(_created)) },
            Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = service }, Revision = 1, Template = template, Desired = DesiredState.Run },
        };
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(replica))), Ct);
        return id;
    }

    private async Task<(Replica Spec, ReplicaStatus? Status)> ReadAsync(string id)
    {
        var objects = new MessageStore(Store);
        var spec = await objects.GetAsync<Replica>(StoreKeys.Replica(id), Ct) ?? throw new InvalidOperationException($"replica {id} is gone");
        var status = await objects.GetAsync<ReplicaStatus>(StoreKeys.ReplicaStatus(id), Ct);
        return (spec.Value, status?.Value);
    }

    private async Task<bool> IsBoundAsync(string id) => (await ReadAsync(id)).Spec.Spec.Node.Length > 0;

    private async Task<bool> IsUnschedulableAsync(string id) => (await ReadAsync(id)).Status is { Phase: Phase.Pending, Reason: PlacementLoop.Unschedulable };

    [Fact]
    public async Task Pending_replicas_of_a_service_are_bound_to_different_nodes_with_their_explanation_and_an_event()
    {
        foreach (var node in new[] { "node-1", "node-2", "node-3" })
        {
            await AddNodeAsync(node);
        }

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await AddReplicaAsync("web"));
        }

        await StartLoopAsync();
        foreach (var id in ids)
        {
            await Eventually.TrueAsync(() => IsBoundAsync(id), $"{id} bound", Ct);
        }

        var bound = new List<(Replica Spec, ReplicaStatus? Status)>();
        foreach (var id in ids)
        {
            bound.Add(await ReadAsync(id));
        }

        Assert.Equal(["node-1", "node-2", "node-3"], bound.Select(b => b.Spec.Spec.Node).Order(StringComparer.Ordinal));
        Assert.All(bound, b => Assert.Equal(1, b.Spec.Spec.Generation));
        Assert.All(bound, b => Assert.Equal(20000, b.Spec.Spec.HostPorts["http"]));
        Assert.All(bound, b => Assert.Equal(Phase.Scheduled, b.Status!.Phase));
        Assert.All(bound, b => Assert.StartsWith($"Scheduled on {b.Spec.Spec.Node}: ", b.Status!.Message, StringComparison.Ordinal));
        Assert.All(bound, b => Assert.Contains("spread", b.Status!.Placement.Chosen.Terms.Select(t => t.Scorer)));

        foreach (var node in new[] { "node-1", "node-2", "node-3" })
        {
            Assert.NotNull((await Store.GetAsync(StoreKeys.Allocation(node), 0, Ct)).Kv);
        }

        // The stored values are protobuf JSON byte for byte: read back and written again by the formatter, nothing changes.
        foreach (var id in ids)
        {
            var spec = (await Store.GetAsync(StoreKeys.Replica(id), 0, Ct)).Kv!.Value;
            var status = (await Store.GetAsync(StoreKeys.ReplicaStatus(id), 0, Ct)).Kv!.Value;
            Assert.Equal(ProtoJson.Format(ProtoJson.Decode<Replica>(spec, id)), System.Text.Encoding.UTF8.GetString(spec));
            Assert.Equal(ProtoJson.Format(ProtoJson.Decode<ReplicaStatus>(status, id)), System.Text.Encoding.UTF8.GetString(status));
        }

        // Events are written after the bindings, in the background.
        await Eventually.TrueAsync(async () => (await new MessageStore(Store).ListAsync<Event>(StoreKeys.EventsPrefix, 0, Ct)).Items.Count(e => e.Value.Reason == "Scheduled") == 3, "three Scheduled events", Ct);
        var events = await new MessageStore(Store).ListAsync<Event>(StoreKeys.EventsPrefix, 0, Ct);
        Assert.Contains(events.Items, e => e.Value.Message.StartsWith($"Scheduled {ids[0]} on ", StringComparison.Ordinal) && e.Value.Message.EndsWith("with host ports http 20000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Batches_in_flight_together_never_overcommit_a_node_and_bind_everything_that_fits()
    {
        // Room for 4 replicas of 250m on each of 5 nodes; 26 replicas in batches of at most two
        // bindings, up to four transactions in flight: batches on other nodes go out together,
        // a batch sharing a node with one in flight waits for it.
        for (var i = 1; i <= 5; i++)
        {
            await AddNodeAsync($"node-{i}");
        }

        var ids = new List<string>();
        for (var i = 0; i < 26; i++)
        {
            ids.Add(await AddReplicaAsync(i % 3 == 0 ? "api" : "web"));
        }

        var loop = await StartLoopAsync(new SchedulerOptions { MaxTxnOps = 7, MaxTxnsInFlight = 4 });
        var seen = "";
        try
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    var (boundCount, waiting) = (await CountAsync(IsBoundAsync), await CountAsync(IsUnschedulableAsync));
                    seen = $"{boundCount} bound, {waiting} unschedulable, {loop.Conflicts} conflicts, loop {loop.ExecuteTask?.Status} {loop.ExecuteTask?.Exception?.GetBaseException()}";
                    return boundCount == 20 && waiting == 6;
                },
                "20 bound and 6 unschedulable",
                Ct);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; saw {seen}", e);
        }

        var bound = new List<Replica>();
        foreach (var id in ids)
        {
            if ((await ReadAsync(id)).Spec is { Spec.Node.Length: > 0 } replica)
            {
                bound.Add(replica);
            }
        }

        foreach (var node in bound.GroupBy(r => r.Spec.Node))
        {
            Assert.True(node.Sum(r => r.Spec.Template.Resources.CpuMillis) <= 1000, $"{node.Key} overcommitted");
            Assert.Equal(node.Count(), node.Select(r => r.Spec.HostPorts["http"]).Distinct().Count());
        }

        Assert.Equal(5, bound.Select(r => r.Spec.Node).Distinct().Count());

        async Task<int> CountAsync(Func<string, Task<bool>> predicate)
        {
            var count = 0;
            foreach (var id in ids)
            {
                count += await predicate(id) ? 1 : 0;
            }

            return count;
        }
    }

    [Fact]
    public async Task Replicas_of_one_owner_revision_with_different_templates_are_each_bound_with_their_own()
    {
        // The loop shares one template object among the pending replicas of an owner revision
        // only when their templates are equal; these two differ at the same revision.
        await AddNodeAsync("node-1", cpu: 4000, memory: 4096 * Mi);
        var small = await AddReplicaAsync("web", cpu: 250);
        var large = await AddReplicaAsync("web", cpu: 500);
        var same = await AddReplicaAsync("web", cpu: 250);
        await StartLoopAsync();
        foreach (var id in new[] { small, large, same })
        {
            await Eventually.TrueAsync(() => IsBoundAsync(id), $"{id} bound", Ct);
        }

        Assert.Equal(250, (await ReadAsync(small)).Spec.Spec.Template.Resources.CpuMillis);
        Assert.Equal(500, (await ReadAsync(large)).Spec.Spec.Template.Resources.CpuMillis);
        Assert.Equal(250, (await ReadAsync(same)).Spec.Spec.Template.Resources.CpuMillis);
        var ports = new List<int>();
        foreach (var id in new[] { small, large, same })
        {
            ports.Add((await ReadAsync(id)).Spec.Spec.HostPorts["http"]);
        }

        Assert.Equal([20000, 20001, 20002], ports.Order());
    }

    [Fact]
    public async Task A_replica_nothing_fits_waits_with_its_reasons_and_is_placed_when_a_node_with_room_joins()
    {
        await AddNodeAsync("node-1", memory: 256 * Mi);
        await AddNodeAsync("node-2", cordoned: true);
        await AddNodeAsync("node-3", state: NodeState.NotReady);
        var id = await AddReplicaAsync("db", memory: 512 * Mi);
        await StartLoopAsync();

        await Eventually.TrueAsync(() => IsUnschedulableAsync(id), $"{id} unschedulable", Ct);
        var (_, status) = await ReadAsync(id);
        Assert.Equal("0/3 nodes fit: 1 cordoned, 1 insufficient memory, 1 not ready", status!.Message);
        Assert.Equal(3, status.Placement.NodesTotal);
        Assert.Equal(0, status.Placement.NodesFeasible);

        // No timer: only a change that makes room brings it back.
        await AddNodeAsync("node-4", memory: 1024 * Mi);
        await Eventually.TrueAsync(() => IsBoundAsync(id), $"{id} bound after node-4 joined", Ct);
        Assert.Equal("node-4", (await ReadAsync(id)).Spec.Spec.Node);
    }

    [Fact]
    public async Task Uncordoning_a_node_and_a_replica_that_ended_both_make_room_for_waiting_replicas()
    {
        await AddNodeAsync("node-1", cpu: 500, cordoned: true);
        var first = await AddReplicaAsync("web", cpu: 500);
        var second = await AddReplicaAsync("web", cpu: 500);
        await StartLoopAsync();
        await Eventually.TrueAsync(async () => await IsUnschedulableAsync(first) && await IsUnschedulableAsync(second), "both unschedulable", Ct);

        await AddNodeAsync("node-1", cpu: 500, cordoned: false);
        await Eventually.TrueAsync(() => IsBoundAsync(first), $"{first} bound after uncordon", Ct);
        await Eventually.TrueAsync(async () => (await ReadAsync(second)).Status?.Message == "0/1 nodes fit: 1 insufficient cpu", $"{second} waiting for cpu", Ct);

        var ended = await new MessageStore(Store).GetAsync<ReplicaStatus>(StoreKeys.ReplicaStatus(first), Ct);
        var status = ended!.Value.Clone();
        status.Phase = Phase.Succeeded;
        await new MessageStore(Store).PutAsync(StoreKeys.ReplicaStatus(first), status, ended.ModRevision, 0, Ct);
        await Eventually.TrueAsync(() => IsBoundAsync(second), $"{second} bound after {first} ended", Ct);
    }

    [Fact]
    public async Task Two_schedulers_at_once_never_overcommit_a_node()
    {
        // Room for exactly four 250m replicas; two loops (a deposed leader and its successor) race for eight.
        await AddNodeAsync("node-1", cpu: 1000);
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await AddReplicaAsync("web"));
        }

        await StartLoopAsync();
        await StartLoopAsync();
        await Eventually.TrueAsync(
            async () =>
            {
                var states = await Task.WhenAll(ids.Select(async id => await IsBoundAsync(id) || await IsUnschedulableAsync(id)));
                return states.All(s => s);
            },
            "every replica bound or unschedulable",
            Ct);

        var bound = new List<Replica>();
        foreach (var id in ids)
        {
            var (spec, _) = await ReadAsync(id);
            if (spec.Spec.Node.Length > 0)
            {
                bound.Add(spec);
            }
        }

        Assert.Equal(4, bound.Count);
        Assert.All(bound, r => Assert.Equal(1, r.Spec.Generation));
        Assert.Equal(4, bound.Select(r => r.Spec.HostPorts["http"]).Distinct().Count());
    }

    [Fact]
    public async Task Explanations_can_read_the_loops_snapshot()
    {
        await AddNodeAsync("node-1");
        var id = await AddReplicaAsync("web");
        var loop = await StartLoopAsync();
        await Eventually.TrueAsync(() => IsBoundAsync(id), $"{id} bound", Ct);

        var reader = new ClusterSnapshotReader(Store, loop);
        var node = await reader.ReadAsync(s => s.Node("node-1") ?? throw new InvalidOperationException("node-1 is missing"), Ct);
        Assert.Equal(250, node.CpuUsed);
        Assert.Equal(99, node.FreePorts);
    }
}
