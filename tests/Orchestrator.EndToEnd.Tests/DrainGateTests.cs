using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using WatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using WatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// The drain gate (docs/adr/0008-drain-protocol.md) on a 2-node cluster of real agents and real
/// process replicas (orc-demo), on the embedded SQLite store: a replica retired by a scale-down
/// is asked to stop only after both agents' endpoints tables acknowledged a version without it.
/// The order is read from the store's own history (a watch from before the scale-down). Real
/// agents ack within milliseconds, so this shows the order holds end to end;
/// <c>Orchestrator.ControlPlane.Tests/Nodes/DrainAckGateTests</c> holds one agent's ack back to
/// show that the gate waits for it.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class DrainGateTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    private static string DemoDll => Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string DemoService(int replicas) => $$"""
        kind: Service
        name: demo
        replicas: {{replicas.ToString(CultureInfo.InvariantCulture)}}
        driver: process
        command: ["dotnet", "{{DemoDll}}"]
        resources: { cpu: 100m, memory: 128Mi }
        ports:
          - { name: http, published: 18090 }
        health:
          readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
        stopGracePeriod: 5s
        placement: { strategy: spread }
        """;

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(DemoDll), $"{DemoDll} is missing: the project reference to examples/demo-app builds it beside the tests");

        // A timeout far longer than the test: a stop can only come from the acks.
        _cluster = await TestCluster.StartAsync(nodes: 2, configureControlPlane: b => b.Services.AddSingleton(new ControllerOptions { DrainTimeout = TimeSpan.FromMinutes(10) }));
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_retired_replica_is_stopped_only_after_both_agents_acked_the_endpoints_without_it()
    {
        await _cluster.ApplyAsync(DemoService(2));
        var ready = await _cluster.WaitReadyAsync("service/demo", 2);
        Assert.Equal(2, ready.Select(r => r.Spec.Node).Distinct().Count());

        // Both must be published before the scale-down: a replica Ready a moment ago may not be in
        // the endpoints yet (writes of one service are at least 100 ms apart), and one that never
        // was stops without waiting for acks.
        var ids = ready.Select(r => r.Meta.Name).ToHashSet(StringComparer.Ordinal);
        await TestCluster.EventuallyAsync(
            async () =>
            {
                try
                {
                    return (await _cluster.Api.GetAsync(new GetRequest { Kind = ObjectKind.Endpoints, Name = "demo" }, cancellationToken: Ct)).Object.Endpoints.Ports.SelectMany(p => p.Endpoints).Select(e => e.Replica).ToHashSet(StringComparer.Ordinal);
                }
                catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
                {
                    return [];
                }
            },
            published => published.SetEquals(ids),
            "both replicas in the endpoints of demo",
            published => string.Join(", ", published));

        var store = _cluster.Cluster.ControlPlane.Services.GetRequiredService<IStateStore>();
        var from = await store.GetRevisionAsync(Ct) + 1;
        var history = new ConcurrentQueue<WatchEvent>();
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var watching = Task.Run(
            async () =>
            {
                await foreach (var change in store.WatchAsync(StoreKeys.Root, from, stopWatching.Token))
                {
                    history.Enqueue(change);
                }
            },
            stopWatching.Token);

        await _cluster.Api.ScaleAsync(new ScaleRequest { Service = "demo", Replicas = 1 }, cancellationToken: Ct);
        var asked = await TestCluster.EventuallyAsync(
            () => Task.FromResult(history.FirstOrDefault(e => StoreKeys.TryNameOf(e.Kv.Key, StoreKeys.ReplicasPrefix, out _) && Desired(e) == DesiredState.Stop)),
            e => e is not null,
            "the watch seeing a replica of demo asked to stop");
        var stopKey = asked!.Kv.Key;
        var id = StoreKeys.NameOf(stopKey, StoreKeys.ReplicasPrefix);
        await stopWatching.CancelAsync();
        await Quiet(watching);

        var changes = history.ToList();
        var drained = changes.First(e => e.Kv.Key == stopKey && Desired(e) == DesiredState.Drain).Kv.ModRevision;
        var dropped = changes.First(e => e.Kv.Key == StoreKeys.Endpoints("demo") && e.Kv.ModRevision > drained && !Published(e).Contains(id)).Kv.ModRevision;
        var stopped = changes.First(e => e.Kv.Key == stopKey && Desired(e) == DesiredState.Stop).Kv.ModRevision;
        Assert.True(drained < dropped && dropped < stopped, $"drain at {drained}, endpoints without it at {dropped}, stop at {stopped}");
        foreach (var node in _cluster.Cluster.Nodes)
        {
            var acked = changes.FirstOrDefault(e => e.Kv.Key == StoreKeys.EndpointsAck(node.Name) && e.Type == WatchEventType.Put && ProtoJson.Decode<NodeEndpointsAck>(e.Kv.Value, e.Kv.Key).Version >= dropped);
            Assert.True(acked is not null, $"{node.Name} never acknowledged version {dropped} before the watch stopped");
            Assert.True(acked.Kv.ModRevision < stopped, $"{node.Name} acknowledged version {dropped} at revision {acked.Kv.ModRevision}, after the stop at {stopped}");
        }

        var events = await _cluster.Api.ListAsync(new ListRequest { Kind = ObjectKind.Event, Owner = "service/demo" }, cancellationToken: Ct);
        Assert.DoesNotContain(events.Items, o => o.Event.Reason == ServicePlanner.DrainTimedOut);
        Assert.Contains(events.Items, o => o.Event.Reason == "ReplicaStopping" && o.Event.Message.Contains("out of traffic: 2 connected nodes acknowledged", StringComparison.Ordinal));
    }

    private static DesiredState? Desired(WatchEvent change) =>
        change.Type == WatchEventType.Put ? ProtoJson.Decode<Replica>(change.Kv.Value, change.Kv.Key).Spec.Desired : null;

    private static HashSet<string> Published(WatchEvent change) =>
        change.Type == WatchEventType.Put
            ? ProtoJson.Decode<ServiceEndpoints>(change.Kv.Value, change.Kv.Key).Ports.SelectMany(p => p.Endpoints).Select(e => e.Replica).ToHashSet(StringComparer.Ordinal)
            : [];

    private static async Task Quiet(Task task)
    {
        try
        {
            await task;
        }
        catch (OperationCanceledException)
        {
            // The watch was stopped on purpose.
        }
    }
}
