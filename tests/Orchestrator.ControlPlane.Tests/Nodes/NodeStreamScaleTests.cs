using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using StoreWatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>What keeps the node stream's cost per node flat when thousands of nodes connect.</summary>
public sealed class NodeStreamScaleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task One_store_watch_serves_the_assignments_of_every_connected_node()
    {
        await using var cp = await NodeCluster.StartAsync(cancellationToken: Ct);
        var store = cp.Sqlite;
        await using (var first = await cp.ConnectAsync("node-1", cancellationToken: Ct))
        {
            await first.HandshakeAsync(Ct);
            var watchersWithOne = store.LiveWatcherCount;
            var agents = new List<FakeAgent>();
            for (var i = 2; i <= 6; i++)
            {
                var agent = await cp.ConnectAsync($"node-{i}", cancellationToken: Ct);
                await agent.HandshakeAsync(Ct);
                agents.Add(agent);
            }

            Assert.Equal(watchersWithOne, store.LiveWatcherCount);
            Assert.Equal(6, cp.App.Services.GetRequiredService<AssignmentFeed>().SubscriberCount);

            // Each change still reaches exactly the nodes it concerns.
            await cp.PutReplicaAsync("web-a", "node-4", cancellationToken: Ct);
            await cp.PutReplicaAsync("web-a", "node-5", generation: 2, cancellationToken: Ct);
            var upsert = (await agents[2].NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
            var removal = (await agents[2].NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
            var moved = (await agents[3].NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
            Assert.Equal("web-a", Assert.Single(upsert.Upserted).Replica.Meta.Name);
            Assert.Equal(["web-a"], removal.Removed);
            Assert.Equal(2, Assert.Single(moved.Upserted).Replica.Spec.Generation);

            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_node_that_connects_after_a_replica_moved_gets_it_in_its_full_set_with_its_status()
    {
        await using var cp = await NodeCluster.StartAsync(cancellationToken: Ct);
        await using var early = await cp.ConnectAsync("node-1", cancellationToken: Ct);
        await early.HandshakeAsync(Ct);
        await cp.PutReplicaAsync("web-b", "node-2", cancellationToken: Ct);
        await cp.DeleteReplicaAsync("web-b", Ct);
        await cp.Messages.PutAsync(StoreKeys.ReplicaStatus("web-a"), new ReplicaStatus { Phase = Phase.Running, Restarts = 4 }, 0, cancellationToken: Ct);
        await cp.PutReplicaAsync("web-a", "node-1", cancellationToken: Ct);
        await cp.PutReplicaAsync("web-a", "node-2", generation: 2, cancellationToken: Ct);

        // The feed has followed every one of those changes (in order) before node-2 subscribes.
        await early.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct);
        await early.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct);
        await using var late = await cp.ConnectAsync("node-2", cancellationToken: Ct);
        var (_, set) = await late.HandshakeAsync(Ct);

        var only = Assert.Single(set.Assignments).Replica;
        Assert.Equal("web-a", only.Meta.Name);
        Assert.Equal(2, only.Spec.Generation);
        Assert.Equal(4, only.Status.Restarts);
    }

    [Fact]
    public async Task A_replica_judged_Lost_is_left_out_of_the_full_set_and_a_later_change_to_it_is_a_removal()
    {
        await using var cp = await NodeCluster.StartAsync(cancellationToken: Ct);
        await cp.PutReplicaAsync("web-lost", "node-1", cancellationToken: Ct);
        await cp.PutReplicaAsync("web-kept", "node-1", cancellationToken: Ct);
        await cp.Messages.PutAsync(StoreKeys.ReplicaStatus("web-lost"), new ReplicaStatus { Phase = Phase.Lost }, 0, cancellationToken: Ct);

        await using var agent = await cp.ConnectAsync("node-1", cancellationToken: Ct);
        var (_, set) = await agent.HandshakeAsync(Ct);
        Assert.Equal("web-kept", Assert.Single(set.Assignments).Replica.Meta.Name);

        await cp.PutReplicaAsync("web-lost", "node-1", generation: 2, cancellationToken: Ct);
        var delta = (await agent.NextAsync(ControlMessage.MessageOneofCase.Delta, Ct)).Delta;
        Assert.Equal(["web-lost"], delta.Removed);
        Assert.Empty(delta.Upserted);
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(100, 5)]
    [InlineData(1000, 50)]
    [InlineData(5000, 250)]
    public void The_last_heartbeat_writes_of_all_nodes_together_stay_within_the_budget(int nodes, int seconds)
    {
        var options = new NodeStreamOptions();

        Assert.Equal(TimeSpan.FromSeconds(seconds), options.HeartbeatStatusIntervalFor(nodes));
    }

    [Fact]
    public async Task Registrations_beyond_the_admitted_number_wait_for_a_slot()
    {
        using var admission = new NodeRegistrationAdmission(new NodeStreamOptions { ConcurrentRegistrations = 2 });
        await admission.WaitAsync(Ct);
        await admission.WaitAsync(Ct);

        var third = admission.WaitAsync(Ct);
        Assert.False(third.IsCompleted);
        Assert.Equal(2, admission.InFlight);

        admission.Release();
        await third;
        Assert.Equal(2, admission.InFlight);
    }

    [Fact]
    public async Task Waiting_reports_keep_their_order_one_per_replica_the_latest_winning_and_drain_after_the_stream_ends()
    {
        using var reports = new PendingReports(capacity: 2);
        static ReplicaReport Report(string id, Phase phase) => new() { ReplicaId = id, Generation = 1, Status = new ReplicaStatus { Phase = phase } };

        Assert.True(reports.Add(Report("web-a", Phase.Starting)));
        Assert.True(reports.Add(Report("web-b", Phase.Starting)));
        Assert.True(reports.Add(Report("web-a", Phase.Ready)));
        Assert.False(reports.Add(Report("web-c", Phase.Starting)));
        reports.Complete();

        var first = await reports.NextAsync(Ct);
        var second = await reports.NextAsync(Ct);
        Assert.Equal(("web-a", Phase.Ready), (first!.ReplicaId, first.Status.Phase));
        Assert.Equal(("web-b", Phase.Starting), (second!.ReplicaId, second.Status.Phase));
        Assert.Null(await reports.NextAsync(Ct));
        Assert.Null(await reports.NextAsync(Ct));
        Assert.Equal(0, reports.Count);
    }

    [Fact]
    public async Task Status_writes_waiting_at_the_same_time_share_one_list_of_the_replicas()
    {
        using var dir = new TempDirectory("orc-alloc");
        var time = new FakeTimeProvider(NodeCluster.Start);
        await using var sqlite = await SqliteStateStore.OpenAsync(dir.File("state.db"), time, cancellationToken: Ct);
        var store = new GatedListStore(sqlite);
        var messages = new MessageStore(sqlite);
        var writer = new NodeStatusWriter(store, new ClusterObjects(store), time);
        for (var i = 1; i <= 10; i++)
        {
            var lease = await sqlite.GrantLeaseAsync(TimeSpan.FromMinutes(5), Ct);
            await writer.RegisterAsync($"node-{i}", FakeAgent.Registration($"node-{i}").Info, "cp", lease.Id, Ct);
        }

        await messages.PutAsync(StoreKeys.Replica("web-a"), new Replica
        {
            Meta = new ObjectMeta { Name = "web-a" },
            Spec = new ReplicaSpec { Node = "node-3", Template = new ReplicaTemplate { Resources = new Resources { CpuMillis = 250, MemoryBytes = 1 << 20 } } },
        }, 0, cancellationToken: Ct);
        var listsBefore = writer.AllocationLists;

        // The first write's list is held up; nine more writes arrive meanwhile.
        store.Hold();
        var writes = Enumerable.Range(1, 10).Select(i => writer.RecordHeartbeatAsync($"node-{i}", "cp", Ct)).ToList();
        await store.HeldAsync(Ct);
        while (writer.QueuedAllocationWaiters < 9)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, Ct);
        }

        store.Release();

        Assert.All(await Task.WhenAll(writes), Assert.True);
        Assert.Equal(2, writer.AllocationLists - listsBefore);
        var status = await messages.GetAsync<NodeStatus>(StoreKeys.NodeStatus("node-3"), Ct);
        Assert.Equal(250, status!.Value.Allocated.CpuMillis);
        Assert.Equal(1, status.Value.Replicas);
    }

    /// <summary>A store whose replica lists can be held at a gate, to line writers up behind one.</summary>
    private sealed class GatedListStore(IStateStore inner) : IStateStore
    {
        private readonly SemaphoreSlim _gate = new(1);
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _holding;

        public string Description => inner.Description;

        public void Hold()
        {
            _holding = true;
            _gate.Wait(Ct);
        }

        public Task HeldAsync(CancellationToken cancellationToken) => _held.Task.WaitAsync(cancellationToken);

        public void Release()
        {
            _holding = false;
            _gate.Release();
        }

        public async Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default)
        {
            if (_holding && prefix == StoreKeys.ReplicasPrefix)
            {
                _held.TrySetResult();
                await _gate.WaitAsync(cancellationToken);
                _gate.Release();
            }

            return await inner.ListAsync(prefix, atRevision, limit, cancellationToken);
        }

        public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default) => inner.GetRevisionAsync(cancellationToken);

        public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default) => inner.GetAsync(key, atRevision, cancellationToken);

        public Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default) => inner.TxnAsync(txn, cancellationToken);

        public IAsyncEnumerable<StoreWatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) => inner.WatchAsync(prefix, fromRevision, cancellationToken);

        public IAsyncEnumerable<StoreWatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) => inner.WatchWithPreviousAsync(prefix, fromRevision, cancellationToken);

        public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => inner.GrantLeaseAsync(ttl, cancellationToken);

        public Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default) => inner.KeepAliveAsync(leaseId, cancellationToken);

        public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

        public Task CompactAsync(long revision, CancellationToken cancellationToken = default) => inner.CompactAsync(revision, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
