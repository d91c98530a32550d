using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// The endpoints controller on a real embedded SQLite store and the fake clock: replicas
/// become Ready, drain and go, a node goes NotReady, and the service is deleted, each by
/// writing the store as its writer would.
/// </summary>
public sealed class EndpointsControllerTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-endpoints-ctl");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly CancellationTokenSource _stop = new();
    private readonly ControllerOptions _options = new() { ResyncInterval = TimeSpan.FromDays(1) };
    private SqliteStateStore? _store;
    private Task? _run;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync()
    {
        _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);
        var host = new ControllerHost<string>(new EndpointsReconciler(Store, _time, NullLogger<EndpointsReconciler>.Instance), new EndpointsControllerSource(Store), Store, _time, _options, 2, NullLogger.Instance);
        _run = Task.Run(async () =>
        {
            using (host)
            {
                await host.RunAsync(_stop.Token);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run;
        }

        _stop.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task PutAsync(string key, Google.Protobuf.IMessage value) =>
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, ProtoJson.Encode(value))), Ct);

    private async Task NodeAsync(string name, NodeState state)
    {
        await PutAsync(StoreKeys.Node(name), new Node { Meta = new ObjectMeta { Name = name }, Info = new NodeInfo { Address = "127.0.0.9" } });
        await PutAsync(StoreKeys.NodeStatus(name), new NodeStatus { State = state });
    }

    private async Task ReplicaAsync(Replica replica)
    {
        var status = replica.Status;
        replica = replica.Clone();
        replica.Status = null;
        await PutAsync(StoreKeys.Replica(replica.Meta.Name), replica);
        await PutAsync(StoreKeys.ReplicaStatus(replica.Meta.Name), status);
    }

    private async Task<(ServiceEndpoints? Endpoints, long ModRevision)> EndpointsAsync(string service)
    {
        var kv = (await Store.GetAsync(StoreKeys.Endpoints(service), 0, Ct)).Kv;
        return kv is null ? (null, 0) : ((ServiceEndpoints)ObjectKindInfo.Endpoints.Merge(kv, null).Endpoints, kv.ModRevision);
    }

    private async Task<ServiceEndpoints> WaitForAsync(Func<ServiceEndpoints, bool> condition, string what)
    {
        ServiceEndpoints? seen = null;
        await Eventually.TrueAsync(
            async () =>
            {
                seen = (await EndpointsAsync("web")).Endpoints;
                return seen is not null && condition(seen);
            },
            what,
            Ct);
        return seen!;
    }

    private static List<string> Ids(ServiceEndpoints e) => [.. e.Ports.SelectMany(p => p.Endpoints).Select(x => x.Replica)];

    [Fact]
    public async Task Endpoints_follow_ready_replicas_drains_nodes_and_the_service()
    {
        await NodeAsync("node-1", NodeState.Ready);
        await NodeAsync("node-2", NodeState.Ready);
        await PutAsync(StoreKeys.Service("web"), EndpointsPlannerTests.Web());

        // A service without ready replicas publishes its ports, empty.
        var empty = await WaitForAsync(e => e.Ports.Count == 1, "the empty endpoints of web");
        Assert.Empty(empty.Ports[0].Endpoints);

        await ReplicaAsync(EndpointsPlannerTests.R("web-aaaaa", "node-1", ports: [("http", 20001)]));
        await ReplicaAsync(EndpointsPlannerTests.R("web-bbbbb", "node-2", address: "127.0.0.3", ports: [("http", 20002)]));
        await ReplicaAsync(EndpointsPlannerTests.R("web-ccccc", "node-1", phase: Phase.Starting, ports: [("http", 20003)]));
        var two = await WaitForAsync(e => Ids(e).Count == 2, "two ready replicas published");
        Assert.Equal(["web-aaaaa", "web-bbbbb"], Ids(two));
        var (_, modRevision) = await EndpointsAsync("web");
        Assert.Equal(modRevision, two.Version);

        // A change that does not change the set is not written: a node heartbeat, a restart count.
        await PutAsync(StoreKeys.NodeStatus("node-1"), new NodeStatus { State = NodeState.Ready, Replicas = 2 });
        var unchanged = EndpointsPlannerTests.R("web-aaaaa", "node-1", ports: [("http", 20001)]);
        unchanged.Status.Restarts = 1;
        await ReplicaAsync(unchanged);

        // Draining takes a replica out.
        await ReplicaAsync(EndpointsPlannerTests.R("web-aaaaa", "node-1", desired: DesiredState.Drain, ports: [("http", 20001)]));
        var drained = await WaitForAsync(e => Ids(e).Count == 1, "the draining replica removed");
        Assert.Equal(["web-bbbbb"], Ids(drained));

        // Between the two sets the key was written once: the writes that changed nothing made no write of their own.
        Assert.Equal([drained.Version], await PutsAsync(two.Version + 1, drained.Version));

        // A node that goes NotReady takes its replicas out.
        await PutAsync(StoreKeys.NodeStatus("node-2"), new NodeStatus { State = NodeState.NotReady });
        await WaitForAsync(e => Ids(e).Count == 0, "the replica on the NotReady node removed");

        // A deleted service's endpoints are deleted.
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(StoreKeys.Service("web"))), Ct);
        await Eventually.TrueAsync(async () => (await EndpointsAsync("web")).Endpoints is null, "the endpoints of the deleted service deleted", Ct);
    }

    [Fact]
    public async Task Each_written_set_records_when_it_changed()
    {
        var start = _time.GetUtcNow();
        await NodeAsync("node-1", NodeState.Ready);
        await PutAsync(StoreKeys.Service("web"), EndpointsPlannerTests.Web());
        var empty = await WaitForAsync(e => e.Ports.Count == 1, "the empty endpoints of web");
        Assert.Equal(start, empty.ChangedAt.ToDateTimeOffset());

        _time.Advance(TimeSpan.FromMinutes(5));
        await ReplicaAsync(EndpointsPlannerTests.R("web-aaaaa", "node-1", ports: [("http", 20001)]));
        var one = await WaitForAsync(e => Ids(e).Count == 1, "the ready replica published");
        Assert.Equal(start.AddMinutes(5), one.ChangedAt.ToDateTimeOffset());
    }

    [Fact]
    public async Task Endpoints_of_a_service_that_no_longer_exists_are_deleted_at_start()
    {
        await PutAsync(StoreKeys.Endpoints("gone"), new ServiceEndpoints { Service = "gone" });

        await Eventually.TrueAsync(async () => (await EndpointsAsync("gone")).Endpoints is null, "the orphaned endpoints deleted", Ct);
    }

    /// <summary>The revisions at which the endpoints of web were written, from <paramref name="from"/> through <paramref name="through"/>.</summary>
    private async Task<List<long>> PutsAsync(long from, long through)
    {
        var revisions = new List<long>();
        await foreach (var change in Store.WatchAsync(StoreKeys.Endpoints("web"), from, Ct))
        {
            if (change.Type == StoreWatchEventType.Put)
            {
                revisions.Add(change.Revision);
            }

            if (change.Revision >= through)
            {
                break;
            }
        }

        return revisions;
    }
}
