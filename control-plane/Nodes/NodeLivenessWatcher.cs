using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// Marks nodes NotReady (reason <c>HeartbeatsStopped</c>) whose liveness key disappeared
/// without a clean end of their stream: the lease expired because heartbeats stopped or the
/// control plane holding the stream died. Level-triggered: it first lists every Ready node
/// without a liveness key, then follows deletions of liveness keys. It never evicts replicas;
/// that is the node lifecycle controller's decision.
/// </summary>
public sealed partial class NodeLivenessWatcher(
    IStateStore store,
    NodeStatusWriter nodes,
    NodeSessionRegistry registry,
    NodeStreamOptions options,
    TimeProvider time,
    ILogger<NodeLivenessWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                // The store closed: the host is stopping.
                return;
            }
            catch (Exception e) when (e is StateStoreException or ObjectException)
            {
                LogWatchFailed(logger, e);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var statuses = await store.ListAsync(StoreKeys.NodeStatusPrefix, 0, 0, cancellationToken);
        var liveness = await store.ListAsync(StoreKeys.NodeLivenessPrefix, statuses.Revision, 0, cancellationToken);
        var live = liveness.Items.Select(kv => StoreKeys.NameOf(kv.Key, StoreKeys.NodeLivenessPrefix)).ToHashSet(StringComparer.Ordinal);
        foreach (var kv in statuses.Items)
        {
            var name = StoreKeys.NameOf(kv.Key, StoreKeys.NodeStatusPrefix);
            if (!live.Contains(name) && ProtoJson.Decode<NodeStatus>(kv.Value, kv.Key).State == NodeState.Ready)
            {
                await MarkAsync(name, leaseId: 0, cancellationToken);
            }
        }

        // The previous value carries the lease id of the expired key.
        await foreach (var e in store.WatchWithPreviousAsync(StoreKeys.NodeLivenessPrefix, statuses.Revision + 1, cancellationToken))
        {
            if (e.Type == StoreWatchEventType.Delete)
            {
                await MarkAsync(StoreKeys.NameOf(e.Kv.Key, StoreKeys.NodeLivenessPrefix), e.PrevKv?.Lease ?? 0, cancellationToken);
            }
        }
    }

    private async Task MarkAsync(string name, long leaseId, CancellationToken cancellationToken)
    {
        if (await nodes.MarkHeartbeatsStoppedAsync(name, options.NodeGrace, cancellationToken))
        {
            LogHeartbeatsStopped(logger, name);
        }

        // A stream still open here whose lease expired has a silent agent: end it, so the agent
        // (if it is alive at all) reconnects into a fresh registration.
        if (registry.Find(name) is { } session && leaseId != 0 && session.LeaseId == leaseId)
        {
            session.Close(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, $"node \"{name}\": no heartbeat for {options.NodeGrace.TotalSeconds}s, its liveness lease expired; reconnect to register again"));
        }
    }

    [LoggerMessage(EventId = 3020, Level = LogLevel.Warning, Message = "Node {Node} is NotReady: its liveness lease expired (heartbeats stopped)")]
    private static partial void LogHeartbeatsStopped(ILogger logger, string node);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Watching node liveness failed; listing again")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception);
}
