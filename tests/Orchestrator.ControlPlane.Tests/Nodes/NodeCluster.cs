using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>
/// An in-process control plane on a real SQLite store, both on one <see cref="FakeTimeProvider"/>
/// (leases expire only when a test advances time), with helpers to write replicas as a
/// controller would and to wait for what the API shows.
/// </summary>
internal sealed class NodeCluster : IAsyncDisposable
{
    public const string MemberId = "cp-test";

    private readonly TempDirectory _dir;

    private NodeCluster(TempDirectory dir, FakeTimeProvider time, WebApplication app, SqliteStateStore sqlite)
    {
        _dir = dir;
        Sqlite = sqlite;
        Time = time;
        App = app;
        Channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl);
        Client = new Cluster.ClusterClient(Channel);
        Messages = new MessageStore(Store);
    }

    /// <summary>The stream's fixed start: 10:02:00 UTC.</summary>
    public static DateTimeOffset Start { get; } = new(2026, 11, 23, 10, 2, 0, TimeSpan.Zero);

    public FakeTimeProvider Time { get; }

    public WebApplication App { get; }

    public GrpcChannel Channel { get; }

    public Cluster.ClusterClient Client { get; }

    public IStateStore Store => App.Services.GetRequiredService<IStateStore>();

    /// <summary>The SQLite store under <see cref="Store"/> (for its test hooks, such as the live watcher count).</summary>
    public SqliteStateStore Sqlite { get; }

    public MessageStore Messages { get; }

    public NodeSessionRegistry Sessions => App.Services.GetRequiredService<NodeSessionRegistry>();

    public static async Task<NodeCluster> StartAsync(NodeStreamOptions? options = null, Action<WebApplicationBuilder>? configure = null, CancellationToken cancellationToken = default)
    {
        var dir = new TempDirectory("orc-nodes");
        var time = new FakeTimeProvider(Start);
        WebApplication? app = null;
        try
        {
            var store = await SqliteStateStore.OpenAsync(dir.File("state.db"), time, cancellationToken: cancellationToken);
            app = await ControlPlaneApp.BuildAsync(
                new ControlPlaneOptions { Listen = "127.0.0.1:0", HttpListen = "127.0.0.1:0", Store = store.Description, MemberId = MemberId },
                store,
                b =>
                {
                    b.Logging.SetMinimumLevel(LogLevel.Warning);
                    b.Services.AddSingleton<TimeProvider>(time);
                    b.Services.AddSingleton(options ?? new NodeStreamOptions());

                    // These tests write replicas by hand, as controllers would; keep the real controllers out.
                    b.Services.AddSingleton(new ControllerOptions { Enabled = false });
                    configure?.Invoke(b);
                },
                cancellationToken);
            await app.StartAsync(cancellationToken);
            return new NodeCluster(dir, time, app, store);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            dir.Dispose();
            throw;
        }
    }

    public Task<FakeAgent> ConnectAsync(string name, Register? register = null, CancellationToken cancellationToken = default) =>
        FakeAgent.ConnectAsync(Channel, name, register, cancellationToken);

    /// <summary>Writes a replica spec bound to <paramref name="node"/> (empty: unscheduled), as the scheduler would.</summary>
    public async Task<long> PutReplicaAsync(string id, string node, long generation = 1, string owner = "web", CancellationToken cancellationToken = default)
    {
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = id, Uid = Guid.NewGuid().ToString(), Generation = generation },
            Spec = new ReplicaSpec
            {
                Owner = new OwnerRef { Kind = "service", Name = owner },
                Revision = 1,
                Node = node,
                Desired = DesiredState.Run,
                Generation = generation,
                Template = new ReplicaTemplate
                {
                    Driver = Driver.Process,
                    Command = { "sleep", "1000" },
                    Resources = new Resources { CpuMillis = 250, MemoryBytes = 128L << 20 },
                },
                HostPorts = { ["http"] = 20001 },
            },
        };
        var current = await Messages.GetAsync<Replica>(StoreKeys.Replica(id), cancellationToken);
        return await Messages.PutAsync(StoreKeys.Replica(id), replica, current?.ModRevision ?? 0, cancellationToken: cancellationToken)
            ?? throw new InvalidOperationException($"replica {id} changed while the test wrote it");
    }

    public async Task<long> DeleteReplicaAsync(string id, CancellationToken cancellationToken = default)
    {
        var result = await Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(StoreKeys.Replica(id))), cancellationToken);
        return result.Revision;
    }

    public async Task<Node> GetNodeAsync(string name, CancellationToken cancellationToken = default) =>
        (await Client.GetAsync(new GetRequest { Kind = ObjectKind.Node, Name = name }, cancellationToken: cancellationToken)).Object.Node;

    public async Task<Replica> GetReplicaAsync(string id, CancellationToken cancellationToken = default) =>
        (await Client.GetAsync(new GetRequest { Kind = ObjectKind.Replica, Name = id }, cancellationToken: cancellationToken)).Object.Replica;

    /// <summary>Follows the object through <c>Cluster.Watch</c> until <paramref name="condition"/> holds; fails after a generous bound.</summary>
    public async Task<V1.Object> WaitForAsync(ObjectKind kind, string name, Func<V1.Object, bool> condition, CancellationToken cancellationToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(TimeSpan.FromSeconds(30));
        using var watch = Client.Watch(new WatchRequest { Kind = kind, Name = name }, cancellationToken: bound.Token);
        V1.Object? last = null;
        try
        {
            await foreach (var e in watch.ResponseStream.ReadAllAsync(bound.Token))
            {
                if (e.Object is { } obj && e.Type != V1.WatchEventType.Deleted)
                {
                    last = obj;
                    if (condition(obj))
                    {
                        return obj;
                    }
                }
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && !cancellationToken.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }

        throw new TimeoutException($"{kind} {name} never reached the expected state within 30s; last seen: {last}");
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
            _dir.Dispose();
        }
    }
}
