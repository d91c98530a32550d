using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>One connected node and the endpoints version its agent acknowledged last (0: none yet).</summary>
public sealed record NodeAck(string Node, long Version);

/// <summary>
/// What the drain gate of one service knows (docs/adr/0008-drain-protocol.md): the service's
/// endpoints as published (their version, the store revision of the write, and the replicas in
/// them) and every connected node's acknowledged endpoints version. A draining replica may stop
/// once it is not in the published set and every connected node acknowledged at least
/// <see cref="EndpointsVersion"/>.
/// </summary>
/// <param name="EndpointsVersion">The version of the service's endpoints; 0 when none are published (no key).</param>
/// <param name="Published">The replicas in the published endpoints, any port.</param>
/// <param name="Nodes">The connected nodes (Ready, with a liveness key): the ones whose proxies must have caught up.</param>
public sealed record DrainGate(long EndpointsVersion, IReadOnlySet<string> Published, IReadOnlyList<NodeAck> Nodes)
{
    /// <summary>No endpoints published for the service: no proxy routes to its replicas.</summary>
    public static DrainGate NothingPublished { get; } = new(0, new HashSet<string>(StringComparer.Ordinal), []);

    /// <summary>The connected nodes that have not acknowledged <see cref="EndpointsVersion"/> yet, in name order.</summary>
    public IReadOnlyList<NodeAck> Lagging() =>
        [.. Nodes.Where(n => n.Version < EndpointsVersion).OrderBy(n => n.Node, StringComparer.Ordinal)];

    /// <summary>
    /// Reads the gate of <paramref name="service"/> at <paramref name="atRevision"/>: its endpoints
    /// key, and the nodes' status, liveness and ack keys (three list reads, only for a service with
    /// a draining replica). A node is connected when its status is Ready and its leased liveness
    /// key exists: a NotReady node, or one whose lease just expired, does not hold the gate.
    /// </summary>
    internal static async Task<DrainGate> ReadAsync(IStateStore store, string service, long atRevision, CancellationToken cancellationToken)
    {
        var endpointsKey = StoreKeys.Endpoints(service);
        var endpoints = await store.GetAsync(endpointsKey, atRevision, cancellationToken);
        if (endpoints.Kv is null)
        {
            return NothingPublished;
        }

        var published = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var set = ProtoJson.Decode<ServiceEndpoints>(endpoints.Kv.Value, endpointsKey);
            foreach (var endpoint in set.Ports.SelectMany(p => p.Endpoints))
            {
                published.Add(endpoint.Replica);
            }
        }
        catch (InvalidStoredObjectException)
        {
            // Unreadable to us, so maybe to agents too: the version still has to reach every node.
        }

        var statuses = await store.ListAsync(StoreKeys.NodeStatusPrefix, atRevision, 0, cancellationToken);
        var liveness = await store.ListAsync(StoreKeys.NodeLivenessPrefix, statuses.Revision, 0, cancellationToken);
        var acks = await store.ListAsync(StoreKeys.EndpointsAcksPrefix, statuses.Revision, 0, cancellationToken);
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in liveness.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, StoreKeys.NodeLivenessPrefix, out var name))
            {
                live.Add(name);
            }
        }

        var acked = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var kv in acks.Items)
        {
            if (StoreKeys.TryNameOf(kv.Key, StoreKeys.EndpointsAcksPrefix, out var name))
            {
                try
                {
                    acked[name] = ProtoJson.Decode<NodeEndpointsAck>(kv.Value, kv.Key).Version;
                }
                catch (InvalidStoredObjectException)
                {
                    // Reads as no ack: the node holds the gate until it acks again (or the timeout).
                }
            }
        }

        var nodes = new List<NodeAck>();
        foreach (var kv in statuses.Items)
        {
            if (!StoreKeys.TryNameOf(kv.Key, StoreKeys.NodeStatusPrefix, out var name) || !live.Contains(name))
            {
                continue;
            }

            NodeStatus status;
            try
            {
                status = ProtoJson.Decode<NodeStatus>(kv.Value, kv.Key);
            }
            catch (InvalidStoredObjectException)
            {
                continue;
            }

            if (status.State == NodeState.Ready)
            {
                nodes.Add(new NodeAck(name, acked.GetValueOrDefault(name)));
            }
        }

        return new DrainGate(endpoints.Kv.ModRevision, published, nodes);
    }
}
