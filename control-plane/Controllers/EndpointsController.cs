using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// The keys of the endpoints controller: service names. A service spec change, a change of
/// one of its replicas (spec: desired state, node; status: phase, reported endpoints), a
/// change of its endpoints key, and a change of a node (spec or status: Ready, NotReady,
/// Down) that has one of its replicas bound to it enqueue the service. Endpoints keys without
/// a service are listed too, so they are deleted after a restart.
/// </summary>
public sealed class EndpointsControllerSource(IStateStore store) : IControllerSource<string>
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (string Owner, string Node)> _placed = new(StringComparer.Ordinal);

    // Whether each node was Ready when its status was last seen: a status write that leaves that
    // alone (the periodic last_heartbeat, an ack) changes no endpoints and starts no pass.
    private readonly Dictionary<string, bool> _nodeReady = new(StringComparer.Ordinal);

    public string WatchPrefix => StoreKeys.Root;

    public async Task<(IReadOnlyCollection<string> Keys, long Revision)> ListKeysAsync(CancellationToken cancellationToken)
    {
        var services = await store.ListAsync(StoreKeys.ServicesPrefix, 0, 0, cancellationToken);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in services.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, StoreKeys.ServicesPrefix, out var name))
            {
                keys.Add(name);
            }
        }

        var endpoints = await store.ListAsync(StoreKeys.EndpointsPrefix, services.Revision, 0, cancellationToken);
        foreach (var kv in endpoints.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, StoreKeys.EndpointsPrefix, out var name))
            {
                keys.Add(name);
            }
        }

        var replicas = await ServiceReconciler.ReadReplicasAsync(store, services.Revision, _ => true, cancellationToken);
        lock (_lock)
        {
            _placed.Clear();
            foreach (var replica in replicas)
            {
                Index(replica.Replica.Meta.Name, replica.Replica);
            }
        }

        return (keys, services.Revision);
    }

    public IEnumerable<string> KeysOf(Store.WatchEvent change)
    {
        var key = change.Kv.Key;
        if (StoreKeys.TryNameOf(key, StoreKeys.ServicesPrefix, out var service) || StoreKeys.TryNameOf(key, StoreKeys.EndpointsPrefix, out service))
        {
            yield return service;
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.ReplicasPrefix, out var id))
        {
            var replica = ServiceControllerSource.DecodeReplica(change.Type == Store.WatchEventType.Put ? change.Kv : change.PrevKv);
            string? known;
            lock (_lock)
            {
                known = _placed.TryGetValue(id, out var placed) ? placed.Owner : null;
                if (change.Type == Store.WatchEventType.Put && replica is not null)
                {
                    Index(id, replica);
                }
                else
                {
                    _placed.Remove(id);
                }
            }

            // A delete without its previous value: the index says whose it was.
            if ((replica?.Spec?.Owner is { Kind: ServiceReconciler.OwnerKind } owner ? owner.Name : known) is { } name)
            {
                yield return name;
            }
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.ReplicaStatusPrefix, out var statusId))
        {
            string? owner;
            lock (_lock)
            {
                owner = _placed.TryGetValue(statusId, out var placed) ? placed.Owner : null;
            }

            // A status reported before the watch saw the replica placed: the id says whose it is
            // (a cut, very long name is healed by the resync).
            if ((owner ?? ReplicaIds.OwnerOf(statusId)) is { } name)
            {
                yield return name;
            }
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.NodesPrefix, out var node) || StoreKeys.TryNameOf(key, StoreKeys.NodeStatusPrefix, out node))
        {
            var owners = OwnersOn(node, key.StartsWith(StoreKeys.NodeStatusPrefix, StringComparison.Ordinal) ? change : null);
            foreach (var owner in owners)
            {
                yield return owner;
            }
        }
    }

    /// <summary>
    /// The services with a replica on <paramref name="node"/>; none for a status change
    /// (<paramref name="statusChange"/>) that leaves the node's readiness as it was.
    /// </summary>
    private List<string> OwnersOn(string node, Store.WatchEvent? statusChange)
    {
        lock (_lock)
        {
            if (statusChange is not null && !ReadinessChanged(node, statusChange))
            {
                return [];
            }

            return _placed.Values.Where(p => p.Node == node).Select(p => p.Owner).Distinct(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Whether a node status change flips the node's readiness (or is the first seen). Caller holds the lock.</summary>
    private bool ReadinessChanged(string node, Store.WatchEvent change)
    {
        bool ready;
        if (change.Type == Store.WatchEventType.Delete)
        {
            ready = false;
        }
        else
        {
            try
            {
                ready = ProtoJson.Decode<NodeStatus>(change.Kv.Value, change.Kv.Key).State == NodeState.Ready;
            }
            catch (InvalidStoredObjectException)
            {
                ready = false;
            }
        }

        if (_nodeReady.TryGetValue(node, out var before) && before == ready)
        {
            return false;
        }

        _nodeReady[node] = ready;
        return true;
    }

    private void Index(string id, Replica replica)
    {
        if (replica.Spec?.Owner is { Kind: ServiceReconciler.OwnerKind } owner)
        {
            _placed[id] = (owner.Name, replica.Spec.Node ?? "");
        }
        else
        {
            _placed.Remove(id);
        }
    }
}

/// <summary>
/// Publishes one service's endpoints (key: its name) to <c>/orc/endpoints/&lt;service&gt;</c>:
/// reads the service, its replicas and their nodes at one store revision, asks the
/// <see cref="EndpointsPlanner"/>, and writes only when the set changed, with a
/// compare-and-swap on the endpoints key and on the service's spec. The version of a set is the
/// store revision of its write (the key's mod revision, set on every read), and each write records
/// when it happened (<c>changed_at</c>, the AGE of <c>orc get endpoints</c>). A deleted service's
/// endpoints are deleted.
/// </summary>
public sealed partial class EndpointsReconciler(IStateStore store, TimeProvider time, ILogger<EndpointsReconciler> logger, TimeSpan writeInterval = default) : IReconciler<string>
{
    // When each service's endpoints were last written (ControllerOptions.EndpointsWriteInterval).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _lastWrite = new(StringComparer.Ordinal);

    public string Name => "endpoints";

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        // At most one write per service per interval: a service whose replicas turn Ready one by
        // one gets one write (and one update to every node) per interval, not one per replica.
        // Checked before reading anything: a pass that must wait costs nothing. The first change
        // after a quiet interval goes at once.
        if (writeInterval > TimeSpan.Zero && _lastWrite.TryGetValue(key, out var last) && time.GetUtcNow() - last < writeInterval)
        {
            return ReconcileResult.After(last + writeInterval - time.GetUtcNow());
        }

        var serviceKey = StoreKeys.Service(key);
        var read = await store.GetAsync(serviceKey, 0, cancellationToken);
        var revision = read.Revision;
        Service? service = null;
        if (read.Kv is not null)
        {
            service = ProtoJson.Decode<Service>(read.Kv.Value, serviceKey);
            service.Meta ??= new ObjectMeta();
            service.Meta.Name = key;
        }

        IReadOnlyList<Replica> replicas = [];
        IReadOnlyDictionary<string, Node> nodes = new Dictionary<string, Node>(StringComparer.Ordinal);
        if (service is not null)
        {
            replicas = (await ServiceReconciler.ReadOwnedReplicasAsync(store, revision, ServiceReconciler.OwnerKind, key, cancellationToken))
                .Select(r => r.Replica)
                .ToList();
            nodes = await ReadNodesAsync(revision, cancellationToken);
        }

        var wanted = EndpointsPlanner.Compute(service, replicas, nodes);
        var endpointsKey = StoreKeys.Endpoints(key);
        var current = await store.GetAsync(endpointsKey, 0, cancellationToken);
        var stored = Decode(current.Kv);
        if (current.Kv is not null && stored is not null && EndpointsPlanner.SameSet(stored, wanted))
        {
            return ReconcileResult.Done;
        }

        if (wanted is null)
        {
            if (current.Kv is null)
            {
                return ReconcileResult.Done;
            }

            var deleted = await store.TxnAsync(new Txn([Compare.ModRevision(endpointsKey, current.Kv.ModRevision), Compare.Absent(serviceKey)], [TxnOp.Delete(endpointsKey)], []), cancellationToken);
            if (!deleted.Succeeded)
            {
                throw new ReconcileConflictException($"the endpoints of {key} or the service changed");
            }

            _lastWrite.TryRemove(key, out _);
            LogDeleted(logger, key, deleted.Revision);
            return ReconcileResult.Done;
        }

        wanted.ChangedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(time.GetUtcNow());
        var result = await store.TxnAsync(
            new Txn(
                [Compare.ModRevision(serviceKey, read.Kv!.ModRevision), Compare.ModRevision(endpointsKey, current.Kv?.ModRevision ?? 0)],
                [TxnOp.Put(endpointsKey, ProtoJson.Encode(wanted))],
                []),
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"the endpoints of {key} or the service changed");
        }

        _lastWrite[key] = time.GetUtcNow();
        LogPublished(logger, key, wanted.Ports.Sum(p => p.Endpoints.Count), result.Revision);
        return ReconcileResult.Done;
    }

    /// <summary>Every node (status merged) at <paramref name="atRevision"/>, by name; two list reads.</summary>
    private async Task<IReadOnlyDictionary<string, Node>> ReadNodesAsync(long atRevision, CancellationToken cancellationToken)
    {
        var nodes = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var (name, kv, status) in await ServiceReconciler.ListNodesAsync(store, atRevision, cancellationToken))
        {
            try
            {
                var node = ProtoJson.Decode<Node>(kv.Value, kv.Key);
                node.Status = status is null ? null : ProtoJson.Decode<NodeStatus>(status.Value, status.Key);
                nodes[name] = node;
            }
            catch (InvalidStoredObjectException)
            {
                // An unreadable node is not known to be Ready: its replicas are not endpoints.
            }
        }

        return nodes;
    }

    private static ServiceEndpoints? Decode(KeyValue? kv)
    {
        if (kv is null)
        {
            return null;
        }

        try
        {
            return ProtoJson.Decode<ServiceEndpoints>(kv.Value, kv.Key);
        }
        catch (InvalidStoredObjectException)
        {
            // Unreadable: rewritten from the current state.
            return null;
        }
    }

    [LoggerMessage(EventId = 1340, Level = LogLevel.Debug, Message = "Service {Service}: published {Endpoints} endpoint(s) at version {Version}")]
    private static partial void LogPublished(ILogger logger, string service, int endpoints, long version);

    [LoggerMessage(EventId = 1341, Level = LogLevel.Debug, Message = "Service {Service} is gone: deleted its endpoints at revision {Revision}")]
    private static partial void LogDeleted(ILogger logger, string service, long revision);
}

/// <summary>Runs the endpoints controller for the lifetime of the host (when <see cref="ControllerOptions.Enabled"/>).</summary>
public sealed class EndpointsController(
    IStateStore store,
    TimeProvider time,
    ControllerOptions options,
    ILoggerFactory loggers) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        var reconciler = new EndpointsReconciler(store, time, loggers.CreateLogger<EndpointsReconciler>(), options.EndpointsWriteInterval);
        using var host = new ControllerHost<string>(reconciler, new EndpointsControllerSource(store), store, time, options, options.EndpointsWorkers, loggers.CreateLogger<EndpointsController>());
        await host.RunAsync(stoppingToken);
    }
}
