using System.Globalization;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// Writes a node's registration (<c>/orc/nodes/&lt;name&gt;</c>), its status and its leased
/// liveness key. Every write is a compare-and-swap on the keys it read, retried from a fresh
/// read a bounded number of times. Status carries the resources of the replicas bound to the
/// node, recomputed for every write from a list of the replicas that started after the write
/// asked for it; writes that wait at the same time share one list (one pass over the replicas
/// for every node), so a thousand registrations cost a few lists, not a thousand.
/// </summary>
public sealed class NodeStatusWriter(IStateStore store, ClusterObjects objects, TimeProvider time)
{
    public const int MaxAttempts = 5;

    private readonly Lock _allocationGate = new();
    private AllocationBatch? _running;
    private AllocationBatch? _queued;
    private long _allocationLists;
    private int _queuedWaiters;

    /// <summary>How many times the replicas were listed to compute allocations (tests).</summary>
    internal long AllocationLists => Interlocked.Read(ref _allocationLists);

    /// <summary>Writes waiting for the queued list (tests).</summary>
    internal int QueuedAllocationWaiters
    {
        get
        {
            lock (_allocationGate)
            {
                return _queuedWaiters;
            }
        }
    }

    /// <summary>
    /// Stores the node object (info from the agent, <c>spec.cordoned</c> kept), status Ready
    /// connected to <paramref name="memberId"/>, and the liveness key on <paramref name="leaseId"/>, in one transaction.
    /// </summary>
    /// <exception cref="ObjectConflictException">Other writers kept changing the node.</exception>
    public Task RegisterAsync(string name, NodeInfo info, string memberId, long leaseId, CancellationToken cancellationToken) =>
        RegisterAsync(name, info, memberId, _ => Task.FromResult(leaseId), cancellationToken);

    /// <summary>
    /// As above, with the liveness lease granted by <paramref name="grantLease"/> only once the
    /// write is ready to go: reading the node and the replicas' allocation first can take longer
    /// than a lease lives when thousands of nodes register at once.
    /// </summary>
    public async Task RegisterAsync(string name, NodeInfo info, string memberId, Func<CancellationToken, Task<long>> grantLease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grantLease);
        long? leaseId = null;
        var nodeKey = StoreKeys.Node(name);
        var statusKey = StoreKeys.NodeStatus(name);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
            var existing = await store.GetAsync(nodeKey, 0, cancellationToken);
            var status = await store.GetAsync(statusKey, existing.Revision, cancellationToken);
            Node node;
            var changed = true;
            if (existing.Kv is null)
            {
                node = new Node
                {
                    Meta = new ObjectMeta { Name = name, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = now, UpdatedAt = now },
                    Info = info.Clone(),
                    Spec = new NodeSpec(),
                };
            }
            else
            {
                node = ProtoJson.Decode<Node>(existing.Kv.Value, nodeKey);
                node.Meta ??= new ObjectMeta { Name = name, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = now };
                node.Spec ??= new NodeSpec();
                node.Status = null;
                node.Meta.ResourceVersion = 0;
                changed = !info.Equals(node.Info);
                if (changed)
                {
                    node.Info = info.Clone();
                    node.Meta.UpdatedAt = now;
                }
            }

            var nodeStatus = new NodeStatus
            {
                State = NodeState.Ready,
                LastHeartbeat = now,
                ConnectedTo = memberId,
            };
            await FillAllocatedAsync(name, nodeStatus, cancellationToken);

            var ops = new List<TxnOp>();
            if (changed)
            {
                ops.Add(TxnOp.Put(nodeKey, ProtoJson.Encode(node)));
            }

            ops.Add(TxnOp.Put(statusKey, ProtoJson.Encode(nodeStatus)));
            leaseId ??= await grantLease(cancellationToken);
            ops.Add(TxnOp.Put(StoreKeys.NodeLiveness(name), Encoding.UTF8.GetBytes(memberId), leaseId.Value));
            var result = await store.TxnAsync(
                new Txn(
                    [Compare.ModRevision(nodeKey, existing.Kv?.ModRevision ?? 0), Compare.ModRevision(statusKey, status.Kv?.ModRevision ?? 0)],
                    ops,
                    []),
                cancellationToken);
            if (result.Succeeded)
            {
                return;
            }
        }

        throw new ObjectConflictException($"could not register node \"{name}\": other writers kept changing it ({MaxAttempts} attempts); the agent will retry");
    }

    /// <summary>
    /// Records a heartbeat in the node status (Ready, <c>last_heartbeat</c> = now) while the
    /// node is still connected to <paramref name="memberId"/>.
    /// </summary>
    /// <returns>False when the status names another control plane, or kept changing.</returns>
    public Task<bool> RecordHeartbeatAsync(string name, string memberId, CancellationToken cancellationToken) =>
        RecordHeartbeatAsync(name, memberId, 0, cancellationToken);

    /// <summary>As <see cref="RecordHeartbeatAsync(string, string, CancellationToken)"/>, also recording the endpoints version the agent acknowledged last.</summary>
    public async Task<bool> RecordHeartbeatAsync(string name, string memberId, long endpointsAck, CancellationToken cancellationToken)
    {
        return await UpdateStatusAsync(
            name,
            status =>
            {
                if (status.ConnectedTo != memberId)
                {
                    return false;
                }

                status.State = NodeState.Ready;
                status.Reason = "";
                status.Message = "";
                status.LastHeartbeat = Timestamp.FromDateTimeOffset(time.GetUtcNow());
                status.EndpointsAckedVersion = Math.Max(status.EndpointsAckedVersion, endpointsAck);
                return true;
            },
            cancellationToken);
    }

    /// <summary>
    /// Marks the node NotReady after its stream ended on this control plane, unless another
    /// control plane or a newer stream holds it (<paramref name="stillOwned"/> is asked after every read).
    /// <paramref name="lastHeartbeat"/> (the last one heard on that stream) is recorded with it.
    /// </summary>
    public async Task<bool> MarkDisconnectedAsync(string name, string memberId, Func<bool> stillOwned, DateTimeOffset? lastHeartbeat, CancellationToken cancellationToken)
    {
        var at = time.GetUtcNow().ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        return await UpdateStatusAsync(
            name,
            status =>
            {
                // Already NotReady (its lease expired first): keep that, more specific, reason.
                if (status.ConnectedTo != memberId || !stillOwned() || status.State != NodeState.Ready)
                {
                    return false;
                }

                status.State = NodeState.NotReady;
                status.Reason = "AgentDisconnected";
                status.Message = $"the agent's stream ended at {at}; replicas keep their last reported state until it reconnects";
                if (lastHeartbeat is { } heard)
                {
                    // Exact, from the stream itself: the node lifecycle counts the grace from here (ADR 0015).
                    status.LastHeartbeat = Timestamp.FromDateTimeOffset(heard);
                }

                return true;
            },
            cancellationToken);
    }

    /// <summary>
    /// Marks a node NotReady because its liveness lease expired (no clean end of its stream),
    /// provided it is still Ready and its liveness key is still absent.
    /// </summary>
    public async Task<bool> MarkHeartbeatsStoppedAsync(string name, TimeSpan grace, CancellationToken cancellationToken)
    {
        var statusKey = StoreKeys.NodeStatus(name);
        var livenessKey = StoreKeys.NodeLiveness(name);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var current = await store.GetAsync(statusKey, 0, cancellationToken);
            if (current.Kv is null)
            {
                return false;
            }

            var status = ProtoJson.Decode<NodeStatus>(current.Kv.Value, statusKey);
            if (status.State != NodeState.Ready)
            {
                return false;
            }

            var last = status.LastHeartbeat is null ? "an unknown time" : status.LastHeartbeat.ToDateTimeOffset().ToString("HH:mm:ss", CultureInfo.InvariantCulture);
            status.State = NodeState.NotReady;
            status.Reason = "HeartbeatsStopped";
            status.Message = $"no heartbeat renewed the node's lease for {Seconds(grace)} (last recorded heartbeat at {last}); the agent or its control plane stopped without closing the stream";
            await FillAllocatedAsync(name, status, cancellationToken);
            var result = await store.TxnAsync(
                new Txn([Compare.ModRevision(statusKey, current.Kv.ModRevision), Compare.Absent(livenessKey)], [TxnOp.Put(statusKey, ProtoJson.Encode(status))], []),
                cancellationToken);
            if (result.Succeeded)
            {
                return true;
            }
        }

        return false;
    }

    private async Task<bool> UpdateStatusAsync(string name, Func<NodeStatus, bool> change, CancellationToken cancellationToken)
    {
        var statusKey = StoreKeys.NodeStatus(name);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var current = await store.GetAsync(statusKey, 0, cancellationToken);
            var status = current.Kv is null ? new NodeStatus() : ProtoJson.Decode<NodeStatus>(current.Kv.Value, statusKey);
            if (!change(status))
            {
                return false;
            }

            await FillAllocatedAsync(name, status, cancellationToken);
            var result = await store.TxnAsync(
                new Txn([Compare.ModRevision(statusKey, current.Kv?.ModRevision ?? 0)], [TxnOp.Put(statusKey, ProtoJson.Encode(status))], []),
                cancellationToken);
            if (result.Succeeded)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Sum of the template resources of the non-final replicas bound to the node, and their count.</summary>
    private async Task FillAllocatedAsync(string name, NodeStatus status, CancellationToken cancellationToken)
    {
        var all = await AllocationsAsync(cancellationToken);
        var (resources, count) = all.TryGetValue(name, out var found) ? found : (new Resources(), 0);
        status.Allocated = resources.Clone();
        status.Replicas = count;
    }

    /// <summary>
    /// Every node's allocation from a list of the replicas that starts after this call: the one
    /// waiting to start if there is one (joined), else a new one (started now, or queued behind
    /// the list in flight, which began too early to see what the caller may have just written).
    /// </summary>
    private Task<Dictionary<string, (Resources Resources, int Count)>> AllocationsAsync(CancellationToken cancellationToken)
    {
        AllocationBatch? start = null;
        Task<Dictionary<string, (Resources, int)>> result;
        lock (_allocationGate)
        {
            if (_queued is not null)
            {
                _queuedWaiters++;
                result = _queued.Done.Task;
            }
            else if (_running is not null)
            {
                _queuedWaiters = 1;
                _queued = new AllocationBatch();
                result = _queued.Done.Task;
            }
            else
            {
                _running = start = new AllocationBatch();
                result = start.Done.Task;
            }
        }

        if (start is not null)
        {
            _ = RunAllocationBatchesAsync(start);
        }

        return result.WaitAsync(cancellationToken);
    }

    private async Task RunAllocationBatchesAsync(AllocationBatch? batch)
    {
        while (batch is not null)
        {
            try
            {
                batch.Done.TrySetResult(await ListAllocationsAsync());
            }
            catch (Exception e)
            {
                batch.Done.TrySetException(e);
            }

            lock (_allocationGate)
            {
                _running = batch = _queued;
                _queued = null;
                _queuedWaiters = 0;
            }
        }
    }

    private async Task<Dictionary<string, (Resources, int)>> ListAllocationsAsync()
    {
        Interlocked.Increment(ref _allocationLists);

        // Not cancelled by one caller: others share this list. A closed store ends it with an error.
        var replicas = await objects.ListAsync(ObjectKindInfo.Replica, cancellationToken: CancellationToken.None);
        var sums = new Dictionary<string, (Resources, int)>(StringComparer.Ordinal);
        foreach (var obj in replicas.Items)
        {
            var replica = obj.Replica;
            var node = replica.Spec?.Node;
            if (string.IsNullOrEmpty(node) || IsFinal(replica.Status))
            {
                continue;
            }

            if (!sums.TryGetValue(node, out var sum))
            {
                sum = (new Resources(), 0);
            }

            sum.Item1.CpuMillis += replica.Spec!.Template?.Resources?.CpuMillis ?? 0;
            sum.Item1.MemoryBytes += replica.Spec.Template?.Resources?.MemoryBytes ?? 0;
            sums[node] = (sum.Item1, sum.Item2 + 1);
        }

        return sums;
    }

    private sealed class AllocationBatch
    {
        public TaskCompletionSource<Dictionary<string, (Resources, int)>> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A replica that holds no resources any more: done, lost, or failed with no retry planned.</summary>
    public static bool IsFinal(ReplicaStatus? status) => status?.Phase switch
    {
        Phase.Succeeded or Phase.Lost => true,
        Phase.Failed => status.NextRetryAt is null,
        _ => false,
    };

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}
