using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// A hand-written Cluster service that answers from what a test put in it and records what it was
/// asked, served by Kestrel on an ephemeral HTTP/2-only (h2c) port like the real control plane.
/// It checks the CLI's side of the wire: requests, deadlines, trailers, streams.
/// </summary>
public sealed class FakeCluster : Cluster.ClusterBase
{
    public ConcurrentQueue<ApplyRequest> ApplyRequests { get; } = new();

    public ConcurrentQueue<ListRequest> ListRequests { get; } = new();

    public ConcurrentDictionary<(ObjectKind Kind, string Name), V1.Object> Objects { get; } = new();

    public Func<ApplyRequest, ApplyResponse> OnApply { get; set; } = _ => new ApplyResponse();

    public Channel<WatchEvent> WatchEvents { get; } = Channel.CreateUnbounded<WatchEvent>();

    public List<ServiceRevision> Revisions { get; } = [];

    public TaskCompletionSource<ServerCallContext> WatchStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DateTime? LastDeadline { get; private set; }

    /// <summary>Cancelled when the server stops: open watches end with UNAVAILABLE, as the real control plane's do.</summary>
    public CancellationTokenSource Stopping { get; } = new();

    public override Task<ApplyResponse> Apply(ApplyRequest request, ServerCallContext context)
    {
        LastDeadline = context.Deadline;
        ApplyRequests.Enqueue(request);
        return Task.FromResult(OnApply(request));
    }

    /// <summary>When set, List never answers (until the caller gives up), as an overloaded server would.</summary>
    public bool HangOnList { get; set; }

    public override Task<GetResponse> Get(GetRequest request, ServerCallContext context) =>
        Objects.TryGetValue((request.Kind, request.Name), out var item)
            ? Task.FromResult(new GetResponse { Object = item, Revision = 7 })
            : throw new RpcException(new Status(StatusCode.NotFound, $"{request.Kind.ToString().ToLowerInvariant()} \"{request.Name}\" not found"));

    public override async Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        ListRequests.Enqueue(request);
        if (HangOnList)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, context.CancellationToken);
        }

        var response = new ListResponse { Revision = 7 };
        response.Items.AddRange(Objects.Where(o => o.Key.Kind == request.Kind && OwnedBy(o.Value, request.Owner)).OrderBy(o => o.Key.Name, StringComparer.Ordinal).Select(o => o.Value));
        return response;
    }

    /// <summary>The owner filter as the real API applies it: replicas by their owner, events by their object.</summary>
    private static bool OwnedBy(V1.Object item, string owner) =>
        owner.Length == 0 || item.KindCase switch
        {
            V1.Object.KindOneofCase.Replica => $"{item.Replica.Spec?.Owner?.Kind}/{item.Replica.Spec?.Owner?.Name}" == owner,
            V1.Object.KindOneofCase.Event => $"{item.Event.Object?.Kind}/{item.Event.Object?.Name}" == owner,
            _ => true,
        };

    public override Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context) =>
        Task.FromResult(new DeleteResponse { Deleted = Objects.TryRemove((request.Kind, request.Name), out _), Revision = 8 });

    public override Task<ScaleResponse> Scale(ScaleRequest request, ServerCallContext context)
    {
        if (!Objects.TryGetValue((ObjectKind.Service, request.Service), out var item))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"service \"{request.Service}\" not found"));
        }

        var previous = item.Service.Spec.Replicas;
        item.Service.Spec.Replicas = request.Replicas;
        return Task.FromResult(new ScaleResponse { Previous = previous, Replicas = request.Replicas, Generation = 2 });
    }

    public override Task<HistoryResponse> History(HistoryRequest request, ServerCallContext context)
    {
        var response = new HistoryResponse();
        response.Revisions.AddRange(Revisions.Where(r => r.Service == request.Service));
        return Task.FromResult(response);
    }

    public ConcurrentQueue<IMessage> RolloutRequests { get; } = new();

    public override Task<RolloutUndoResponse> RolloutUndo(RolloutUndoRequest request, ServerCallContext context)
    {
        RolloutRequests.Enqueue(request);
        return request.ToRevision == 9
            ? throw new RpcException(new Status(StatusCode.InvalidArgument, "service \"web\" has no revision 9; its history holds revisions 1, 2, 3 ('orc rollout history web')"))
            : Task.FromResult(new RolloutUndoResponse { PreviousRevision = 3, Revision = request.ToRevision == 0 ? 2 : request.ToRevision, Generation = 7 });
    }

    public override Task<RolloutPauseResponse> RolloutPause(RolloutPauseRequest request, ServerCallContext context)
    {
        RolloutRequests.Enqueue(request);
        return request.Service == "nope"
            ? throw new RpcException(new Status(StatusCode.NotFound, "service \"nope\" not found"))
            : Task.FromResult(new RolloutPauseResponse { Changed = true, Generation = 7 });
    }

    public override Task<RolloutResumeResponse> RolloutResume(RolloutResumeRequest request, ServerCallContext context)
    {
        RolloutRequests.Enqueue(request);
        return Task.FromResult(new RolloutResumeResponse { Changed = false, Generation = 7 });
    }

    public override Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
        Task.FromResult(new VersionResponse { Version = "0.1.0", Commit = "abc1234", Store = "sqlite:///tmp/state.db", StoreRevision = 42, MemberId = "cp-1", Leader = true });

    public override async Task Watch(WatchRequest request, IServerStreamWriter<WatchEvent> responseStream, ServerCallContext context)
    {
        WatchStarted.TrySetResult(context);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, Stopping.Token);
        try
        {
            await foreach (var e in WatchEvents.Reader.ReadAllAsync(both.Token))
            {
                await responseStream.WriteAsync(e, both.Token);
            }
        }
        catch (OperationCanceledException) when (Stopping.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the control plane is shutting down"));
        }
    }
}

/// <summary>Hosts a <see cref="FakeCluster"/> on 127.0.0.1 at an ephemeral port.</summary>
public sealed class FakeClusterServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _disposed;

    private FakeClusterServer(WebApplication app, FakeCluster cluster, string address)
    {
        _app = app;
        Cluster = cluster;
        Address = address;
    }

    public FakeCluster Cluster { get; }

    public string Address { get; }

    public static async Task<FakeClusterServer> StartAsync()
    {
        var cluster = new FakeCluster();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(cluster);
        var app = builder.Build();
        app.MapGrpcService<FakeCluster>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FakeClusterServer(app, cluster, address.TrimEnd('/'));
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await Cluster.Stopping.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Cluster.Stopping.Dispose();
    }
}
