using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// Gives the API a cluster snapshot to explain or plan on: the placement loop's own (between
/// two of its batches) when this control plane leads, otherwise one built from the store.
/// Readers get a copy they may change (a dry run binds replicas in it).
/// </summary>
public sealed class ClusterSnapshotReader(IStateStore store, PlacementLoop? loop = null)
{
    /// <summary>Runs <paramref name="read"/> on a private copy of the current snapshot.</summary>
    public async Task<T> ReadAsync<T>(Func<ClusterSnapshot, T> read, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(read);
        if (loop is not null && await loop.ReadAsync(s => s.Clone(), cancellationToken) is { } copy)
        {
            return read(copy);
        }

        return read(await BuildAsync(store, cancellationToken));
    }

    /// <summary>A snapshot of every node and replica in the store, read at one revision.</summary>
    public static async Task<ClusterSnapshot> BuildAsync(IStateStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var objects = new MessageStore(store);
        var (nodes, revision) = await objects.ListAsync<Node>(StoreKeys.NodesPrefix, 0, cancellationToken);
        var (nodeStatuses, _) = await objects.ListAsync<NodeStatus>(StoreKeys.NodeStatusPrefix, revision, cancellationToken);
        var (replicas, _) = await objects.ListAsync<Replica>(StoreKeys.ReplicasPrefix, revision, cancellationToken);
        var (replicaStatuses, _) = await objects.ListAsync<ReplicaStatus>(StoreKeys.ReplicaStatusPrefix, revision, cancellationToken);
        var nodeStatus = nodeStatuses.ToDictionary(s => StoreKeys.NameOf(s.Key, StoreKeys.NodeStatusPrefix), s => s.Value, StringComparer.Ordinal);
        var replicaStatus = replicaStatuses.ToDictionary(s => StoreKeys.NameOf(s.Key, StoreKeys.ReplicaStatusPrefix), s => s.Value, StringComparer.Ordinal);
        var snapshot = new ClusterSnapshot();
        foreach (var node in nodes)
        {
            var name = StoreKeys.NameOf(node.Key, StoreKeys.NodesPrefix);
            snapshot.SetNode(name, node.Value.Info ?? new NodeInfo(), node.Value.Spec?.Cordoned ?? false, nodeStatus.GetValueOrDefault(name));
        }

        foreach (var replica in replicas)
        {
            var id = StoreKeys.NameOf(replica.Key, StoreKeys.ReplicasPrefix);
            snapshot.SetReplica(id, replica.Value.Spec, replicaStatus.GetValueOrDefault(id));
        }

        return snapshot;
    }
}
