using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// Reconciles one service (key: its name): reads the service and its replicas at one store
/// revision, asks the <see cref="ServicePlanner"/> what to do, and applies each action with a
/// compare-and-swap write guarded by the mod revisions it decided on. A lost race throws
/// <see cref="ReconcileConflictException"/>: the queue retries the pass from fresh reads.
/// Each create and delete is recorded as an event.
/// </summary>
public sealed partial class ServiceReconciler(
    IStateStore store,
    TimeProvider time,
    ControllerOptions options,
    EventRecorder events,
    ILogger<ServiceReconciler> logger) : IReconciler<string>
{
    public const string OwnerKind = "service";
    private const string Source = "service-controller";
    private const int NodesReadOneByOne = 16;
    private readonly ServicePlanner _planner = new(options);

    public string Name => "service";

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var serviceKey = StoreKeys.Service(key);
        var read = await store.GetAsync(serviceKey, 0, cancellationToken);
        var revision = read.Revision;
        var service = read.Kv is null ? null : ProtoJson.Decode<Service>(read.Kv.Value, serviceKey);
        var serviceModRevision = read.Kv?.ModRevision ?? 0;
        var statusRead = await store.GetAsync(StoreKeys.ServiceStatus(key), revision, cancellationToken);
        if (service is not null)
        {
            service.Status = statusRead.Kv is null ? null : DecodeServiceStatus(statusRead.Kv);
        }

        var replicas = await ReadOwnedReplicasAsync(store, revision, OwnerKind, key, cancellationToken);
        var nodes = await ReadNodesAsync(replicas.Select(r => r.Replica.Spec.Node), revision, cancellationToken);
        var history = service is null ? [] : await ReadHistoryAsync(key, revision, cancellationToken);

        // Only a service with a draining replica pays for the gate's reads (ADR 0008).
        var gate = replicas.Any(r => r.Replica.Spec.Desired == DesiredState.Drain)
            ? await DrainGate.ReadAsync(store, key, revision, cancellationToken)
            : null;

        var now = time.GetUtcNow();
        var plan = _planner.Plan(service, replicas.Select(r => r.Replica).ToList(), nodes, history, now, gate);
        var byId = replicas.ToDictionary(r => r.Replica.Meta.Name, StringComparer.Ordinal);
        var desired = service?.Spec.Replicas ?? 0;
        var statusWritten = false;

        var creates = new List<CreateReplica>();
        foreach (var action in plan.Actions)
        {
            if (action is CreateReplica create)
            {
                // Consecutive creates go to the store together; any other action writes them first.
                creates.Add(create);
                continue;
            }

            await CreateAsync(key, serviceKey, serviceModRevision, creates, now, cancellationToken);
            switch (action)
            {
                case StopReplica stop:
                    await RetireAsync(byId[stop.Id], DesiredState.Stop, stop.Why, now, cancellationToken);
                    break;
                case DrainReplica drain:
                    await RetireAsync(byId[drain.Id], DesiredState.Drain, drain.Why, now, cancellationToken);
                    break;
                case RemoveReplica remove:
                    await RemoveAsync(key, byId[remove.Id], remove, cancellationToken);
                    break;
                case RollBack rollBack when service is not null && plan.Status is not null:
                    await RollBackAsync(service, serviceModRevision, statusRead.Kv?.ModRevision ?? 0, rollBack, plan.Status, now, cancellationToken);
                    statusWritten = true;
                    break;
                case RecordEvent e:
                    if (e.Reason == ServicePlanner.DrainTimedOut)
                    {
                        LogDrainTimedOut(logger, key, e.Message);
                    }

                    await events.RecordAsync(OwnerKind, key, e.Type, e.Reason, e.Message, Source, cancellationToken);
                    break;
            }
        }

        await CreateAsync(key, serviceKey, serviceModRevision, creates, now, cancellationToken);
        if (service is not null && !statusWritten && plan.Status is { } status)
        {
            await WriteStatusAsync(key, serviceKey, serviceModRevision, status, cancellationToken);
        }

        LogReconciled(logger, key, desired, plan.Actions.Count);
        return plan.RequeueAfter is { } delay ? ReconcileResult.After(delay) : ReconcileResult.Done;
    }

    /// <summary>Creates the replicas <paramref name="creates"/> asks for (batched in few transactions), records an event for each, and empties the list.</summary>
    private async Task CreateAsync(string service, string serviceKey, long serviceModRevision, List<CreateReplica> creates, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (creates.Count == 0)
        {
            return;
        }

        var specs = creates.Select(create => new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = OwnerKind, Name = service },
            Revision = create.Revision,
            Template = create.Template.Clone(),
            Desired = DesiredState.Run,
            Generation = 1,
        }).ToList();
        var ids = await ReplicaWrites.CreateManyAsync(store, OwnerKind, service, serviceKey, serviceModRevision, specs, now, cancellationToken);
        var drafts = new List<EventDraft>(ids.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            LogCreated(logger, service, ids[i], creates[i].Revision);
            drafts.Add(new EventDraft(OwnerKind, service, EventType.Normal, "ReplicaCreated", $"Created replica {ids[i]} (revision {creates[i].Revision}) {creates[i].Why}", Source));
        }

        await events.RecordManyAsync(drafts, ReplicaWrites.MaxCreatesPerTxn * 2, cancellationToken);
        creates.Clear();
    }

    private async Task RetireAsync(StoredReplica stored, DesiredState desired, string why, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var replica = stored.Replica.Clone();
        var id = replica.Meta.Name;
        replica.Status = null;
        replica.Meta.ResourceVersion = 0;
        replica.Spec.Desired = desired;
        replica.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(now);
        var key = StoreKeys.Replica(id);
        var result = await store.TxnAsync(new Txn([Compare.ModRevision(key, stored.SpecModRevision)], [TxnOp.Put(key, ProtoJson.Encode(replica))], []), cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"replica {id} changed");
        }

        var owner = replica.Spec.Owner.Name;
        LogStopping(logger, owner, id, why);
        var (reason, verb) = desired == DesiredState.Drain ? ("ReplicaDraining", "Draining") : ("ReplicaStopping", "Stopping");
        await events.RecordAsync(OwnerKind, owner, EventType.Normal, reason, $"{verb} replica {id} (revision {replica.Spec.Revision}): {why}", Source, cancellationToken);
    }

    /// <summary>
    /// Points the service back at an earlier revision: its template becomes that revision's,
    /// its generation goes up (a spec change, like an undo), and the ROLLED_BACK status is
    /// written in the same transaction, so no pass ever sees one without the other.
    /// </summary>
    private async Task RollBackAsync(Service service, long serviceModRevision, long statusModRevision, RollBack rollBack, ServiceStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var name = service.Meta.Name;
        var updated = service.Clone();
        updated.Status = null;
        updated.Meta.ResourceVersion = 0;
        updated.Meta.Generation++;
        updated.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(now);
        updated.Spec.Template = rollBack.Template.Clone();
        updated.Revision = rollBack.ToRevision;
        var serviceKey = StoreKeys.Service(name);
        var statusKey = StoreKeys.ServiceStatus(name);
        var result = await store.TxnAsync(
            new Txn(
                [Compare.ModRevision(serviceKey, serviceModRevision), Compare.ModRevision(statusKey, statusModRevision)],
                [TxnOp.Put(serviceKey, ProtoJson.Encode(updated)), TxnOp.Put(statusKey, ProtoJson.Encode(status))],
                []),
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"service {name} or its status changed");
        }

        LogRolledBack(logger, name, rollBack.FromRevision, rollBack.ToRevision, rollBack.Reason);
    }

    /// <summary>
    /// The nodes named (status merged), read at <paramref name="atRevision"/>; absent nodes are
    /// left out. A few are read key by key; many (a service spread over a large cluster) with
    /// two list reads instead of two reads per node.
    /// </summary>
    private async Task<IReadOnlyList<Node>> ReadNodesAsync(IEnumerable<string> names, long atRevision, CancellationToken cancellationToken)
    {
        var wanted = names.Where(n => !string.IsNullOrEmpty(n)).Distinct(StringComparer.Ordinal).ToList();
        var nodes = new List<Node>(wanted.Count);
        if (wanted.Count > NodesReadOneByOne)
        {
            var set = wanted.ToHashSet(StringComparer.Ordinal);
            foreach (var (name, spec, status) in await ListNodesAsync(store, atRevision, cancellationToken))
            {
                if (set.Contains(name))
                {
                    nodes.Add(DecodeNode(name, spec, status));
                }
            }

            return nodes;
        }

        foreach (var name in wanted)
        {
            var spec = await store.GetAsync(StoreKeys.Node(name), atRevision, cancellationToken);
            if (spec.Kv is null)
            {
                continue;
            }

            var status = await store.GetAsync(StoreKeys.NodeStatus(name), atRevision, cancellationToken);
            nodes.Add(DecodeNode(name, spec.Kv, status.Kv));
        }

        return nodes;
    }

    /// <summary>Every node's spec key with its status key (null when it has none), read at <paramref name="atRevision"/> with two list reads.</summary>
    internal static async Task<IReadOnlyList<(string Name, KeyValue Spec, KeyValue? Status)>> ListNodesAsync(IStateStore store, long atRevision, CancellationToken cancellationToken)
    {
        var specs = await store.ListAsync(StoreKeys.NodesPrefix, atRevision, 0, cancellationToken);
        var statuses = await store.ListAsync(StoreKeys.NodeStatusPrefix, specs.Revision, 0, cancellationToken);
        var statusByName = new Dictionary<string, KeyValue>(StringComparer.Ordinal);
        foreach (var kv in statuses.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, StoreKeys.NodeStatusPrefix, out var name))
            {
                statusByName[name] = kv;
            }
        }

        var nodes = new List<(string, KeyValue, KeyValue?)>(specs.Items.Count);
        foreach (var kv in specs.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, StoreKeys.NodesPrefix, out var name))
            {
                nodes.Add((name, kv, statusByName.GetValueOrDefault(name)));
            }
        }

        return nodes;
    }

    private static Node DecodeNode(string name, KeyValue spec, KeyValue? status)
    {
        Node node;
        try
        {
            node = ProtoJson.Decode<Node>(spec.Value, spec.Key);
            node.Status = status is null ? null : ProtoJson.Decode<NodeStatus>(status.Value, status.Key);
        }
        catch (InvalidStoredObjectException)
        {
            // An unreadable node is treated as present and usable: a bad value never retires replicas.
            node = new Node();
        }

        node.Meta ??= new ObjectMeta();
        node.Meta.Name = name;
        return node;
    }

    private async Task<IReadOnlyList<ServiceRevision>> ReadHistoryAsync(string service, long atRevision, CancellationToken cancellationToken)
    {
        var list = await store.ListAsync(StoreKeys.ServiceRevisions(service), atRevision, 0, cancellationToken);
        var result = new List<ServiceRevision>();
        foreach (var kv in list.Items)
        {
            try
            {
                result.Add(ProtoJson.Decode<ServiceRevision>(kv.Value, kv.Key));
            }
            catch (InvalidStoredObjectException)
            {
                // An unreadable revision cannot be rolled back to; the others still can.
            }
        }

        return result;
    }

    private static ServiceStatus? DecodeServiceStatus(KeyValue kv)
    {
        try
        {
            return ProtoJson.Decode<ServiceStatus>(kv.Value, kv.Key);
        }
        catch (InvalidStoredObjectException)
        {
            return null;
        }
    }

    private async Task RemoveAsync(string service, StoredReplica stored, RemoveReplica remove, CancellationToken cancellationToken)
    {
        await ReplicaWrites.DeleteAsync(store, stored, cancellationToken);
        LogRemoved(logger, service, remove.Id, remove.Why);
        await events.RecordAsync(OwnerKind, service, EventType.Normal, "ReplicaDeleted", $"Deleted replica {remove.Id} (revision {stored.Replica.Spec.Revision}): {remove.Why}", Source, cancellationToken);
    }

    private async Task WriteStatusAsync(string service, string serviceKey, long serviceModRevision, ServiceStatus status, CancellationToken cancellationToken)
    {
        var statusKey = StoreKeys.ServiceStatus(service);
        var current = await store.GetAsync(statusKey, 0, cancellationToken);
        if (current.Kv is not null && ProtoJson.Decode<ServiceStatus>(current.Kv.Value, statusKey).Equals(status))
        {
            return;
        }

        // Guarded on the spec too: a status computed from a deleted or changed spec is not written.
        var result = await store.TxnAsync(
            new Txn(
                [Compare.ModRevision(serviceKey, serviceModRevision), Compare.ModRevision(statusKey, current.Kv?.ModRevision ?? 0)],
                [TxnOp.Put(statusKey, ProtoJson.Encode(status))],
                []),
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new ReconcileConflictException($"service {service} or its status changed");
        }
    }

    /// <summary>A replica with its status merged, and the mod revisions of its two keys (0 for an absent status).</summary>
    internal sealed record StoredReplica(Replica Replica, long SpecModRevision, long StatusModRevision);

    /// <summary>Every replica that <paramref name="select"/> accepts, with its status, read at <paramref name="atRevision"/>.</summary>
    internal static Task<IReadOnlyList<StoredReplica>> ReadReplicasAsync(IStateStore store, long atRevision, Func<Replica, bool> select, CancellationToken cancellationToken) =>
        ReadReplicasAsync(store, atRevision, "", select, cancellationToken);

    /// <summary>
    /// The replicas of one owner (<paramref name="ownerKind"/>/<paramref name="owner"/>), read at
    /// <paramref name="atRevision"/> from under their id prefix only (<see cref="ReplicaIds.Prefix"/>),
    /// so a pass costs the size of the owner, not of the cluster.
    /// </summary>
    internal static Task<IReadOnlyList<StoredReplica>> ReadOwnedReplicasAsync(IStateStore store, long atRevision, string ownerKind, string owner, CancellationToken cancellationToken) =>
        ReadReplicasAsync(
            store,
            atRevision,
            ReplicaIds.Prefix(owner),
            r => r.Spec?.Owner is { } o && o.Kind == ownerKind && o.Name == owner,
            cancellationToken);

    private static async Task<IReadOnlyList<StoredReplica>> ReadReplicasAsync(IStateStore store, long atRevision, string idPrefix, Func<Replica, bool> select, CancellationToken cancellationToken)
    {
        var specs = await store.ListAsync(StoreKeys.ReplicasPrefix + idPrefix, atRevision, 0, cancellationToken);
        var statuses = await store.ListAsync(StoreKeys.ReplicaStatusPrefix + idPrefix, specs.Revision, 0, cancellationToken);
        var statusById = new Dictionary<string, KeyValue>(StringComparer.Ordinal);
        foreach (var kv in statuses.Items)
        {
            statusById[StoreKeys.NameOf(kv.Key, StoreKeys.ReplicaStatusPrefix)] = kv;
        }

        var result = new List<StoredReplica>();
        foreach (var kv in specs.Items)
        {
            var id = StoreKeys.NameOf(kv.Key, StoreKeys.ReplicasPrefix);
            if (id.Contains('/', StringComparison.Ordinal))
            {
                continue;
            }

            Replica replica;
            try
            {
                replica = ProtoJson.Decode<Replica>(kv.Value, kv.Key);
            }
            catch (InvalidStoredObjectException)
            {
                // Not a replica any controller wrote; `orc get` reports the bad key, a controller leaves it alone.
                continue;
            }

            replica.Meta ??= new ObjectMeta();
            replica.Meta.Name = id;
            replica.Spec ??= new ReplicaSpec();
            var status = statusById.GetValueOrDefault(id);
            replica.Status = status is null ? null : DecodeStatus(status);
            if (select(replica))
            {
                result.Add(new StoredReplica(replica, kv.ModRevision, status?.ModRevision ?? 0));
            }
        }

        return result;
    }

    private static ReplicaStatus? DecodeStatus(KeyValue kv)
    {
        try
        {
            return ProtoJson.Decode<ReplicaStatus>(kv.Value, kv.Key);
        }
        catch (InvalidStoredObjectException)
        {
            // An unreadable status reads as no report yet: the replica is still reconciled.
            return null;
        }
    }

    [LoggerMessage(EventId = 1320, Level = LogLevel.Debug, Message = "Service {Service}: {Replicas} replicas desired, {Actions} actions")]
    private static partial void LogReconciled(ILogger logger, string service, int replicas, int actions);

    [LoggerMessage(EventId = 1321, Level = LogLevel.Information, Message = "Service {Service}: created replica {Replica} (revision {Revision})")]
    private static partial void LogCreated(ILogger logger, string service, string replica, long revision);

    [LoggerMessage(EventId = 1322, Level = LogLevel.Information, Message = "Service {Service}: stopping replica {Replica}: {Why}")]
    private static partial void LogStopping(ILogger logger, string service, string replica, string why);

    [LoggerMessage(EventId = 1324, Level = LogLevel.Warning, Message = "Service {Service}: rolled back from revision {From} to revision {To}: {Why}")]
    private static partial void LogRolledBack(ILogger logger, string service, long from, long to, string why);

    [LoggerMessage(EventId = 1325, Level = LogLevel.Warning, Message = "Service {Service}: {Message}")]
    private static partial void LogDrainTimedOut(ILogger logger, string service, string message);

    [LoggerMessage(EventId = 1323, Level = LogLevel.Information, Message = "Service {Service}: deleted replica {Replica}: {Why}")]
    private static partial void LogRemoved(ILogger logger, string service, string replica, string why);
}
