using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// One placement pass over the whole cluster (one key, one worker): read nodes and replicas
/// at one store revision, and bind every Pending replica without a node, oldest first, with
/// the <see cref="IPlacer"/>. A binding writes <c>spec.node</c>, <c>spec.host_ports</c> and
/// <c>generation + 1</c> to the replica and phase Scheduled with its explanation to its
/// status, in one transaction guarded by both replica keys and the node's keys. Binding in
/// one pass, one after another on the updated snapshot, is what keeps two replicas from
/// taking the same room or port. A replica nothing fits stays Pending with reason
/// Unschedulable and a message naming the rejecting rules; it is tried again when a node or
/// a replica changes (the watch), not on a timer.
/// </summary>
public sealed partial class PlacementReconciler(
    IStateStore store,
    IPlacer placer,
    TimeProvider time,
    EventRecorder events,
    ILogger<PlacementReconciler> logger) : IReconciler<string>
{
    /// <summary>The single key of the placement queue: every pass looks at the whole cluster.</summary>
    public const string ClusterKey = "cluster";
    public const string Unschedulable = "Unschedulable";
    private const string Source = "scheduler";

    public string Name => "placement";

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var nodeSpecs = await store.ListAsync(StoreKeys.NodesPrefix, 0, 0, cancellationToken);
        var revision = nodeSpecs.Revision;
        var nodeStatuses = await store.ListAsync(StoreKeys.NodeStatusPrefix, revision, 0, cancellationToken);
        var replicas = await ServiceReconciler.ReadReplicasAsync(store, revision, _ => true, cancellationToken);

        var statusKvs = nodeStatuses.Items.ToDictionary(kv => kv.Key, StringComparer.Ordinal);
        var nodes = new List<(Node Node, long SpecModRevision, long StatusModRevision)>();
        foreach (var kv in nodeSpecs.Items)
        {
            var name = StoreKeys.NameOf(kv.Key, StoreKeys.NodesPrefix);
            if (name.Contains('/', StringComparison.Ordinal) || !TryDecode<Node>(kv, out var node))
            {
                continue;
            }

            node.Meta ??= new ObjectMeta();
            node.Meta.Name = name;
            var statusKv = statusKvs.GetValueOrDefault(StoreKeys.NodeStatus(name));
            node.Status = statusKv is not null && TryDecode<NodeStatus>(statusKv, out var status) ? status : null;
            nodes.Add((node, kv.ModRevision, statusKv?.ModRevision ?? 0));
        }

        var snapshot = ClusterSnapshot.Build(nodes.Select(n => n.Node), replicas.Select(r => r.Replica));
        var nodeRevisions = nodes.ToDictionary(n => n.Node.Meta.Name, n => (n.SpecModRevision, n.StatusModRevision), StringComparer.Ordinal);
        var pending = replicas
            .Where(r => string.IsNullOrEmpty(r.Replica.Spec.Node)
                && r.Replica.Spec.Desired == DesiredState.Run
                && r.Replica.Status?.Phase is null or Phase.Pending or Phase.Unspecified)
            .OrderBy(r => r.Replica.Meta.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue)
            .ThenBy(r => r.Replica.Meta.Name, StringComparer.Ordinal)
            .ToList();

        var conflicts = 0;
        foreach (var stored in pending)
        {
            var replica = stored.Replica;
            var template = replica.Spec.Template ?? new ReplicaTemplate();
            var now = time.GetUtcNow();
            var decision = placer.Place(template, snapshot, now);
            if (decision.Node is { } node)
            {
                if (await BindAsync(stored, decision, node, nodeRevisions[node], now, cancellationToken))
                {
                    snapshot = snapshot.WithBinding(node, template.Resources, decision.HostPorts.Values);
                }
                else
                {
                    conflicts++;
                }
            }
            else if (!await MarkUnschedulableAsync(stored, decision, now, cancellationToken))
            {
                conflicts++;
            }
        }

        if (conflicts > 0)
        {
            throw new ReconcileConflictException($"{conflicts} replicas or nodes changed during the placement pass");
        }

        return ReconcileResult.Done;
    }

    private async Task<bool> BindAsync(ServiceReconciler.StoredReplica stored, PlacementDecision decision, string node, (long Spec, long Status) nodeRevision, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var id = stored.Replica.Meta.Name;
        var at = Timestamp.FromDateTimeOffset(now);
        var spec = stored.Replica.Clone();
        spec.Status = null;
        spec.Meta.ResourceVersion = 0;
        spec.Meta.UpdatedAt = at;
        spec.Spec.Node = node;
        spec.Spec.HostPorts.Clear();
        foreach (var (name, port) in decision.HostPorts)
        {
            spec.Spec.HostPorts[name] = port;
        }

        spec.Spec.Generation++;

        var status = stored.Replica.Status?.Clone() ?? new ReplicaStatus();
        status.Phase = Phase.Scheduled;
        status.Reason = "";
        status.Message = decision.Explanation.Message;
        status.LastTransitionAt = at;
        status.Placement = decision.Explanation;

        var result = await store.TxnAsync(
            new Txn(
                [
                    Compare.ModRevision(StoreKeys.Replica(id), stored.SpecModRevision),
                    Compare.ModRevision(StoreKeys.ReplicaStatus(id), stored.StatusModRevision),
                    Compare.ModRevision(StoreKeys.Node(node), nodeRevision.Spec),
                    Compare.ModRevision(StoreKeys.NodeStatus(node), nodeRevision.Status),
                ],
                [TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(spec)), TxnOp.Put(StoreKeys.ReplicaStatus(id), ProtoJson.Encode(status))],
                []),
            cancellationToken);
        if (!result.Succeeded)
        {
            return false;
        }

        LogScheduled(logger, id, node);
        var ports = decision.HostPorts.Count == 0 ? "" : " with host ports " + string.Join(", ", decision.HostPorts.Select(p => $"{p.Key} {p.Value}"));
        var message = decision.Explanation.Message.Replace("Scheduled on ", $"Scheduled {id} on ", StringComparison.Ordinal) + ports;
        await events.RecordAsync("replica", id, EventType.Normal, "Scheduled", message, Source, cancellationToken);
        return true;
    }

    /// <summary>Stores why the replica waits (only when the reason changed, so a pass with nothing new writes nothing).</summary>
    private async Task<bool> MarkUnschedulableAsync(ServiceReconciler.StoredReplica stored, PlacementDecision decision, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var current = stored.Replica.Status;
        var message = decision.Explanation.Message;
        if (current is { Phase: Phase.Pending, Reason: Unschedulable } && current.Message == message)
        {
            return true;
        }

        var id = stored.Replica.Meta.Name;
        var status = current?.Clone() ?? new ReplicaStatus();
        if (status.Phase != Phase.Pending || status.LastTransitionAt is null)
        {
            status.LastTransitionAt = Timestamp.FromDateTimeOffset(now);
        }

        status.Phase = Phase.Pending;
        status.Reason = Unschedulable;
        status.Message = message;
        status.Placement = decision.Explanation;
        var written = await new MessageStore(store).PutAsync(StoreKeys.ReplicaStatus(id), status, stored.StatusModRevision, 0, cancellationToken);
        if (written is null)
        {
            return false;
        }

        LogUnschedulable(logger, id, message);
        await events.RecordAsync("replica", id, EventType.Warning, "FailedScheduling", $"Cannot schedule {id}: {message}", Source, cancellationToken);
        return true;
    }

    private static bool TryDecode<T>(KeyValue kv, out T value)
        where T : Google.Protobuf.IMessage<T>, new()
    {
        try
        {
            value = ProtoJson.Decode<T>(kv.Value, kv.Key);
            return true;
        }
        catch (InvalidStoredObjectException)
        {
            value = new T();
            return false;
        }
    }

    [LoggerMessage(EventId = 1330, Level = LogLevel.Information, Message = "Scheduled replica {Replica} on {Node}")]
    private static partial void LogScheduled(ILogger logger, string replica, string node);

    [LoggerMessage(EventId = 1331, Level = LogLevel.Information, Message = "Replica {Replica} is unschedulable: {Message}")]
    private static partial void LogUnschedulable(ILogger logger, string replica, string message);
}
