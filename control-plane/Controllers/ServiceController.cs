using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// The keys of the service controller: service names. A service spec change enqueues its
/// name; a replica change enqueues its owner's name, so a replica that became Ready or
/// stopped moves a rollout or a scale-down on. Replicas of deleted services are listed
/// too, so they are retired after a restart. A node's spec change (draining, cordoned) or
/// removal enqueues the owners of the replicas bound to it, from an index the watch keeps.
/// The drain gate (docs/adr/0008-drain-protocol.md) is woken the same way: a service with a
/// draining replica is enqueued when its endpoints key changes, when any node's endpoints ack
/// is written, and when a node's readiness or liveness changes (a node that went away no
/// longer holds the gate).
/// </summary>
public sealed class ServiceControllerSource(IStateStore store) : IControllerSource<string>
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (string Owner, string Node)> _placed = new(StringComparer.Ordinal);

    // Replicas owned by something else (a job): their status changes are none of this controller's business.
    private readonly HashSet<string> _notServices = new(StringComparer.Ordinal);

    // Draining replicas (desired DRAIN) and their services: the ones whose gate waits on acks.
    private readonly Dictionary<string, string> _draining = new(StringComparer.Ordinal);

    // Whether each node was Ready when its status was last seen: the periodic last_heartbeat write
    // leaves that alone and wakes no gate.
    private readonly Dictionary<string, bool> _nodeReady = new(StringComparer.Ordinal);

    public string WatchPrefix => StoreKeys.Root;

    public async Task<(IReadOnlyCollection<string> Keys, long Revision)> ListKeysAsync(CancellationToken cancellationToken)
    {
        var services = await store.ListAsync(StoreKeys.ServicesPrefix, 0, 0, cancellationToken);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in services.Items)
        {
            var name = StoreKeys.NameOf(kv.Key, StoreKeys.ServicesPrefix);
            if (!name.Contains('/', StringComparison.Ordinal))
            {
                keys.Add(name);
            }
        }

        var replicas = await ServiceReconciler.ReadReplicasAsync(store, services.Revision, _ => true, cancellationToken);
        lock (_lock)
        {
            _placed.Clear();
            _notServices.Clear();
            _draining.Clear();
            _nodeReady.Clear();
            foreach (var replica in replicas)
            {
                if (replica.Replica.Spec.Owner?.Kind == ServiceReconciler.OwnerKind)
                {
                    keys.Add(replica.Replica.Spec.Owner.Name);
                }

                Index(replica.Replica.Meta.Name, replica.Replica);
            }
        }

        return (keys, services.Revision);
    }

    public IEnumerable<string> KeysOf(Store.WatchEvent change)
    {
        var key = change.Kv.Key;
        if (StoreKeys.TryNameOf(key, StoreKeys.ServicesPrefix, out var service))
        {
            yield return service;
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.ReplicasPrefix, out var id))
        {
            var value = change.Type == Store.WatchEventType.Put ? change.Kv : change.PrevKv;
            var replica = DecodeReplica(value);
            lock (_lock)
            {
                if (change.Type == Store.WatchEventType.Put && replica is not null)
                {
                    Index(id, replica);
                }
                else
                {
                    _placed.Remove(id);
                    _notServices.Remove(id);
                    _draining.Remove(id);
                }
            }

            if (replica?.Spec?.Owner is { Kind: ServiceReconciler.OwnerKind } ownerRef)
            {
                yield return ownerRef.Name;
            }
            else if (replica?.Spec?.Owner is null && ReplicaIds.OwnerOf(id) is { } guessed)
            {
                // Unreadable, or owned by nobody: a service of that name (if any) sorts it out.
                yield return guessed;
            }
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.ReplicaStatusPrefix, out var statusId) && ReplicaIds.OwnerOf(statusId) is { } owner && !NotAService(statusId))
        {
            // Ids are <service>-<suffix>; a cut (very long) name is healed by the resync.
            yield return owner;
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.NodesPrefix, out var node))
        {
            foreach (var onNode in OwnersOn(node))
            {
                yield return onNode;
            }
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.EndpointsPrefix, out var endpointsOf))
        {
            if (Draining().Contains(endpointsOf))
            {
                yield return endpointsOf;
            }
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.EndpointsAcksPrefix, out _)
            || (StoreKeys.TryNameOf(key, StoreKeys.NodeLivenessPrefix, out _) && change.Type == Store.WatchEventType.Delete)
            || (StoreKeys.TryNameOf(key, StoreKeys.NodeStatusPrefix, out var statusOf) && ReadinessChanged(statusOf, change)))
        {
            foreach (var waiting in Draining())
            {
                yield return waiting;
            }
        }
    }

    /// <summary>The services with a draining replica, as the watch last saw them.</summary>
    public IReadOnlyCollection<string> Draining()
    {
        lock (_lock)
        {
            return _draining.Values.ToHashSet(StringComparer.Ordinal);
        }
    }

    /// <summary>Whether a node status change moved the node in or out of Ready (or is the first one seen).</summary>
    private bool ReadinessChanged(string node, Store.WatchEvent change)
    {
        bool? ready = change.Type == Store.WatchEventType.Put ? DecodeNodeState(change.Kv) == NodeState.Ready : null;
        lock (_lock)
        {
            var known = _nodeReady.TryGetValue(node, out var was) ? was : (bool?)null;
            if (ready is { } now)
            {
                _nodeReady[node] = now;
            }
            else
            {
                _nodeReady.Remove(node);
            }

            return known != ready;
        }
    }

    private static NodeState? DecodeNodeState(KeyValue kv)
    {
        try
        {
            return ProtoJson.Decode<NodeStatus>(kv.Value, kv.Key).State;
        }
        catch (InvalidStoredObjectException)
        {
            return null;
        }
    }

    /// <summary>The services with a replica bound to <paramref name="node"/>, as the watch last saw them.</summary>
    public IReadOnlyList<string> OwnersOn(string node)
    {
        lock (_lock)
        {
            return _placed.Values.Where(p => p.Node == node).Select(p => p.Owner).Distinct(StringComparer.Ordinal).ToList();
        }
    }

    private bool NotAService(string id)
    {
        lock (_lock)
        {
            return _notServices.Contains(id);
        }
    }

    private void Index(string id, Replica replica)
    {
        if (replica.Spec?.Owner is { Kind: not ServiceReconciler.OwnerKind and not "" })
        {
            _notServices.Add(id);
        }

        if (replica.Spec?.Owner is { Kind: ServiceReconciler.OwnerKind } owner && !string.IsNullOrEmpty(replica.Spec.Node))
        {
            _placed[id] = (owner.Name, replica.Spec.Node);
        }
        else
        {
            _placed.Remove(id);
        }

        if (replica.Spec?.Owner is { Kind: ServiceReconciler.OwnerKind } drainingOwner && replica.Spec.Desired == DesiredState.Drain)
        {
            _draining[id] = drainingOwner.Name;
        }
        else
        {
            _draining.Remove(id);
        }
    }

    /// <summary>The replica a watch event's key holds; null when it holds none (a delete) or nothing readable.</summary>
    internal static Replica? DecodeReplica(KeyValue? kv)
    {
        if (kv is null || kv.Value.Length == 0)
        {
            return null;
        }

        try
        {
            return ProtoJson.Decode<Replica>(kv.Value, kv.Key);
        }
        catch (InvalidStoredObjectException)
        {
            return null;
        }
    }
}

/// <summary>Runs the service controller for the lifetime of the host (when <see cref="ControllerOptions.Enabled"/>).</summary>
public sealed class ServiceController(
    IStateStore store,
    TimeProvider time,
    ControllerOptions options,
    EventRecorder events,
    ILoggerFactory loggers) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        var reconciler = new ServiceReconciler(store, time, options, events, loggers.CreateLogger<ServiceReconciler>());
        using var host = new ControllerHost<string>(reconciler, new ServiceControllerSource(store), store, time, options, options.ServiceWorkers, loggers.CreateLogger<ServiceController>());
        await host.RunAsync(stoppingToken);
    }
}
