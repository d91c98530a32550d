using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>What an operator asks of a node: stop placing on it, drain it, or take it back.</summary>
public enum NodeSchedulingChange
{
    /// <summary>spec.cordoned = true; replicas already there stay.</summary>
    Cordon,

    /// <summary>spec.cordoned = false and spec.draining = false.</summary>
    Uncordon,

    /// <summary>spec.cordoned = true and spec.draining = true, with drain_started_at = now (kept when already draining).</summary>
    Drain,
}

/// <summary>The outcome of <see cref="NodeCommands.SetSchedulingAsync"/>: the node after the change (status merged).</summary>
public sealed record NodeChangeOutcome(Node Node, bool Changed, long Revision);

/// <summary>
/// Writes a node's spec (<c>/orc/nodes/&lt;name&gt;</c>, the node registration writes the same
/// key and keeps the spec it finds): cordon, uncordon, drain. Each write is a compare-and-swap on
/// the node key, retried from a fresh read.
/// </summary>
public sealed class NodeCommands(IStateStore store, TimeProvider time)
{
    public const int MaxAttempts = 5;

    /// <exception cref="ObjectNotFoundException">No node has that name (the message says which one is closest).</exception>
    /// <exception cref="InvalidObjectRequestException">The name is not a valid node name.</exception>
    public async Task<NodeChangeOutcome> SetSchedulingAsync(string name, NodeSchedulingChange change, CancellationToken cancellationToken = default)
    {
        ObjectKindInfo.Node.ValidateName(name);
        var key = StoreKeys.Node(name);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var stored = await store.GetAsync(key, 0, cancellationToken);
            if (stored.Kv is null)
            {
                throw new ObjectNotFoundException("node", name, await SuggestionAsync(name, stored.Revision, cancellationToken));
            }

            var node = ProtoJson.Decode<Node>(stored.Kv.Value, key);
            node.Meta ??= new ObjectMeta { Name = name };
            node.Spec ??= new NodeSpec();
            node.Status = null;
            var spec = node.Spec.Clone();
            var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
            switch (change)
            {
                case NodeSchedulingChange.Cordon:
                    spec.Cordoned = true;
                    break;
                case NodeSchedulingChange.Uncordon:
                    spec.Cordoned = false;
                    spec.Draining = false;
                    spec.DrainStartedAt = null;
                    break;
                case NodeSchedulingChange.Drain:
                    spec.Cordoned = true;
                    if (!spec.Draining)
                    {
                        spec.Draining = true;
                        spec.DrainStartedAt = now;
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(change), change, "unknown node change");
            }

            if (spec.Equals(node.Spec))
            {
                return new NodeChangeOutcome(await WithStatusAsync(node, stored.Revision, cancellationToken), false, 0);
            }

            node.Spec = spec;
            node.Meta.Generation++;
            node.Meta.UpdatedAt = now;
            node.Meta.ResourceVersion = 0;
            var result = await store.TxnAsync(
                new Txn([Compare.ModRevision(key, stored.Kv.ModRevision)], [TxnOp.Put(key, ProtoJson.Encode(node))], []),
                cancellationToken);
            if (result.Succeeded)
            {
                node.Meta.ResourceVersion = result.Revision;
                return new NodeChangeOutcome(await WithStatusAsync(node, result.Revision, cancellationToken), true, result.Revision);
            }
        }

        throw new ObjectConflictException($"could not {change.ToString().ToLowerInvariant()} node \"{name}\": other writers kept changing it ({MaxAttempts} attempts); try again");
    }

    private async Task<Node> WithStatusAsync(Node node, long revision, CancellationToken cancellationToken)
    {
        var status = await store.GetAsync(StoreKeys.NodeStatus(node.Meta.Name), revision, cancellationToken);
        if (status.Kv is not null)
        {
            node.Status = ProtoJson.Decode<NodeStatus>(status.Kv.Value, status.Kv.Key);
        }

        return node;
    }

    /// <summary>"; did you mean "node-2"?" or the list of nodes, so a typo is fixed without another command.</summary>
    private async Task<string> SuggestionAsync(string name, long revision, CancellationToken cancellationToken)
    {
        var nodes = await store.ListAsync(StoreKeys.NodesPrefix, revision, 0, cancellationToken);
        var names = nodes.Items.Select(kv => StoreKeys.NameOf(kv.Key, StoreKeys.NodesPrefix)).Where(n => !n.Contains('/', StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
        {
            return "no node has registered yet; start an agent (orc-agent --name NAME) first";
        }

        return Suggest.Closest(name, names) is { } closest
            ? $"did you mean \"{closest}\"? ('orc get nodes' lists them)"
            : $"known nodes: {string.Join(", ", names.Take(10))}{(names.Count > 10 ? ", ..." : "")}";
    }
}
