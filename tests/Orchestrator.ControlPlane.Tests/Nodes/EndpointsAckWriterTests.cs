using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>The endpoints acks of many nodes go to their keys in few transactions, the latest per node.</summary>
public sealed class EndpointsAckWriterTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-ack-writer");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly NodeSessionRegistry _registry = new();
    private readonly List<NodeSession> _sessions = [];
    private SqliteStateStore? _store;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        foreach (var session in _sessions)
        {
            session.Dispose();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private EndpointsAckWriter Writer(NodeStreamOptions? options = null, TimeProvider? time = null, IStateStore? store = null) =>
        new(store ?? Store, _registry, options ?? new NodeStreamOptions(), new ControlPlaneOptions { MemberId = "cp-1" }, time ?? _time, NullLogger<EndpointsAckWriter>.Instance);

    private void Connect(string node)
    {
        var session = new NodeSession(node, 16);
        _sessions.Add(session);
        _registry.Attach(session);
    }

    private async Task<NodeEndpointsAck?> AckAsync(string node)
    {
        var kv = (await Store.GetAsync(StoreKeys.EndpointsAck(node), 0, Ct)).Kv;
        return kv is null ? null : ProtoJson.Decode<NodeEndpointsAck>(kv.Value, kv.Key);
    }

    [Fact]
    public async Task The_acks_of_150_nodes_take_two_transactions_and_the_latest_per_node_wins()
    {
        var nodes = Enumerable.Range(1, 150).Select(i => $"node-{i}").ToList();
        nodes.ForEach(Connect);
        var writer = Writer();
        var before = await Store.GetRevisionAsync(Ct);

        foreach (var node in nodes)
        {
            writer.Record(node, 10);
            writer.Record(node, 12);
            writer.Record(node, 11);
        }

        Assert.Equal(150, writer.PendingCount);
        await writer.FlushAsync(Ct);

        Assert.Equal(2, writer.Transactions);
        Assert.Equal(before + 2, await Store.GetRevisionAsync(Ct));
        Assert.Equal(0, writer.PendingCount);
        var acks = await Store.ListAsync(StoreKeys.EndpointsAcksPrefix, 0, 0, Ct);
        Assert.Equal(150, acks.Items.Count);
        var one = await AckAsync("node-77");
        Assert.Equal(("node-77", 12L, "cp-1"), (one!.Node, one.Version, one.ControlPlane));
        Assert.Equal(_time.GetUtcNow(), one.AckedAt.ToDateTimeOffset());
    }

    [Fact]
    public async Task A_node_whose_stream_left_this_control_plane_is_not_written_by_it()
    {
        Connect("node-1");
        var writer = Writer();
        writer.Record("node-1", 5);
        writer.Record("node-2", 5);

        await writer.FlushAsync(Ct);

        Assert.Equal(5, (await AckAsync("node-1"))!.Version);
        Assert.Null(await AckAsync("node-2"));
    }

    [Fact]
    public async Task The_running_writer_stores_an_ack_without_being_asked_to_flush()
    {
        Connect("node-1");
        using var writer = Writer(new NodeStreamOptions { EndpointsAckBatchWindow = TimeSpan.Zero }, TimeProvider.System);
        await writer.StartAsync(Ct);
        try
        {
            writer.Record("node-1", 7);
            await Controllers.Eventually.TrueAsync(async () => (await AckAsync("node-1"))?.Version == 7, "node-1's ack of version 7 in the store", Ct);
            writer.Record("node-1", 9);
            await Controllers.Eventually.TrueAsync(async () => (await AckAsync("node-1"))?.Version == 9, "node-1's ack of version 9 in the store", Ct);
        }
        finally
        {
            await writer.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task Nothing_waiting_writes_nothing()
    {
        var writer = Writer();
        var before = await Store.GetRevisionAsync(Ct);
        writer.Record("node-1", 0);

        await writer.FlushAsync(Ct);

        Assert.Equal((0L, before), (writer.Transactions, await Store.GetRevisionAsync(Ct)));
    }

    [Fact]
    public async Task A_batch_the_store_refused_is_kept_and_written_by_the_next_flush()
    {
        Connect("node-1");
        var failing = new Store.InterferingStore(Store, 1, (_, _) => throw new StateStoreException("the store is unavailable"));
        var writer = Writer(store: failing);
        writer.Record("node-1", 7);

        await Assert.ThrowsAsync<StateStoreException>(() => writer.FlushAsync(Ct));
        Assert.Equal(1, writer.PendingCount);
        writer.Record("node-1", 6);
        await writer.FlushAsync(Ct);

        Assert.Equal(7, (await AckAsync("node-1"))!.Version);
        Assert.Equal(0, writer.PendingCount);
    }
}
