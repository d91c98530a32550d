using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.TestSupport;

/// <summary>
/// Writes a cluster into a store the way its writers would: nodes as their agents register them
/// (with a liveness key, so they stay Ready), and replicas bound by the real <see cref="Scheduler"/>
/// with the explanation the placement loop stores. For tests of a control plane whose controllers
/// are off.
/// </summary>
public sealed class ClusterSeed(IStateStore store, DateTimeOffset decidedAt)
{
    private readonly Scheduler _scheduler = Scheduler.CreateDefault();

    /// <summary>A registered node offering both drivers, ports <paramref name="firstPort"/>..+999.</summary>
    public async Task AddNodeAsync(
        string name,
        long cpuMillis = 4000,
        long memoryBytes = 8L << 30,
        NodeState state = NodeState.Ready,
        bool cordoned = false,
        int firstPort = 20000,
        IReadOnlyDictionary<string, string>? labels = null,
        CancellationToken cancellationToken = default)
    {
        var info = new NodeInfo
        {
            Address = "127.0.0.2",
            Drivers = { Driver.Process, Driver.Docker },
            Capacity = new Resources { CpuMillis = cpuMillis, MemoryBytes = memoryBytes },
            Allocatable = new Resources { CpuMillis = cpuMillis, MemoryBytes = memoryBytes },
            Ports = new PortRange { First = firstPort, Last = firstPort + 999 },
        };
        foreach (var (key, value) in labels ?? new Dictionary<string, string>())
        {
            info.Labels[key] = value;
        }

        var node = new Node { Meta = new ObjectMeta { Name = name }, Info = info, Spec = new NodeSpec { Cordoned = cordoned } };
        var status = new NodeStatus
        {
            State = state,
            Reason = state == NodeState.Ready ? "" : "HeartbeatsStopped",
            Message = state == NodeState.Ready ? "" : "no heartbeat for 10s",
        };
        var ops = new List<TxnOp> { TxnOp.Put(StoreKeys.Node(name), ProtoJson.Encode(node)), TxnOp.Put(StoreKeys.NodeStatus(name), ProtoJson.Encode(status)) };
        if (state == NodeState.Ready)
        {
            ops.Add(TxnOp.Put(StoreKeys.NodeLiveness(name), "test-cp"u8.ToArray()));
        }

        await store.TxnAsync(Txn.Unconditional([.. ops]), cancellationToken);
    }

    /// <summary>Cordons or uncordons a node, as <c>orc node cordon</c> would.</summary>
    public async Task CordonAsync(string name, bool cordoned = true, CancellationToken cancellationToken = default)
    {
        var stored = await new MessageStore(store).GetAsync<Node>(StoreKeys.Node(name), cancellationToken)
            ?? throw new InvalidOperationException($"node {name} is not in the store");
        var node = stored.Value;
        node.Spec ??= new NodeSpec();
        node.Spec.Cordoned = cordoned;
        await store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Node(name), ProtoJson.Encode(node))), cancellationToken);
    }

    /// <summary>
    /// Creates replica <paramref name="id"/> of <paramref name="owner"/> (<c>service/web</c>) and places
    /// it as the placement loop would: bound and Running with its explanation, or Pending
    /// (Unschedulable) with the reason when no node fits. Returns the node, or null.
    /// </summary>
    public async Task<string?> PlaceAsync(string id, string owner, ReplicaTemplate template, long revision = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var slash = owner.IndexOf('/', StringComparison.Ordinal);
        var ownerRef = new OwnerRef { Kind = owner[..slash], Name = owner[(slash + 1)..] };
        var snapshot = await ClusterSnapshotReader.BuildAsync(store, cancellationToken);
        var decision = _scheduler.Place(new PlacementRequest(id, ownerRef, template), snapshot, decidedAt);
        var at = Timestamp.FromDateTimeOffset(decidedAt);
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = id, Uid = Guid.NewGuid().ToString(), Generation = 1, CreatedAt = at, UpdatedAt = at },
            Spec = new ReplicaSpec
            {
                Owner = ownerRef,
                Revision = revision,
                Template = template.Clone(),
                Desired = DesiredState.Run,
                Generation = decision.Placed ? 2 : 1,
                Node = decision.Node ?? "",
            },
        };
        foreach (var (name, port) in decision.HostPorts)
        {
            replica.Spec.HostPorts[name] = port;
        }

        var status = decision.Placed
            ? new ReplicaStatus { Phase = Phase.Running, Message = decision.Explanation.Message, Placement = decision.Explanation, LastTransitionAt = at, StartedAt = at }
            : new ReplicaStatus { Phase = Phase.Pending, Reason = PlacementLoop.Unschedulable, Message = decision.Explanation.Message, Placement = decision.Explanation, LastTransitionAt = at };
        await store.TxnAsync(
            Txn.Unconditional(TxnOp.Put(StoreKeys.Replica(id), ProtoJson.Encode(replica)), TxnOp.Put(StoreKeys.ReplicaStatus(id), ProtoJson.Encode(status))),
            cancellationToken);
        return decision.Node;
    }

    /// <summary>A process replica template asking for <paramref name="cpu"/> millicores and <paramref name="memory"/> bytes, with one port.</summary>
    public static ReplicaTemplate Template(long cpu = 250, long memory = 128L << 20, string image = "") => new()
    {
        Driver = image.Length > 0 ? Driver.Docker : Driver.Process,
        Image = image,
        Command = { "sleep", "1000" },
        Resources = new Resources { CpuMillis = cpu, MemoryBytes = memory },
        Ports = { new PortSpec { Name = "http", Protocol = Protocol.Http } },
    };
}
