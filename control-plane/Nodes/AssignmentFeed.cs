using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using StoreWatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// What each node must run: the full set of replicas bound to it at one store revision, then
/// deltas in revision order with no gap. One store watch on the replicas serves every node
/// stream of this control plane: each change is decoded once and routed to the node it binds
/// the replica to (an upsert) and to the node it left (a removal). A watch per stream made every
/// replica write cost one decode per connected node, which at 1,000 nodes held replica creation
/// to a few writes a second.
/// </summary>
/// <remarks>
/// The feed keeps only which node each replica is bound to (id to node, and node to ids); a new
/// subscriber's full set is read from the store at the feed's current revision, key by key, so
/// it costs the node's own replicas, not the cluster's. The feed starts with the first
/// subscriber; if its watch fails it ends every subscription (their agents reconnect into a
/// fresh full set) and starts again with the next subscriber. A replica whose status says Lost is
/// no longer its node's though its spec still names the node: it is left out of full sets and a
/// later change to it is sent as a removal (the fence for a node that comes back after being
/// judged lost).
/// </remarks>
public sealed partial class AssignmentFeed(IStateStore store, ILogger<AssignmentFeed>? logger = null) : StoreWatchFeed(store, StoreKeys.ReplicasPrefix, "replicas")
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly Dictionary<string, string> _nodeOf = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _idsOn = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Subscriber>> _subscribers = new(StringComparer.Ordinal);

    /// <summary>
    /// Subscribes <paramref name="node"/>: its full assignment set now, then every change after it.
    /// Dispose the subscription when the stream ends.
    /// </summary>
    public async Task<AssignmentSubscription> SubscribeAsync(string node, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        var (subscriber, ids) = await AttachAsync(
            () =>
            {
                var subscriber = new Subscriber(node, this);
                if (!_subscribers.TryGetValue(node, out var list))
                {
                    _subscribers[node] = list = [];
                }

                list.Add(subscriber);
                string[] ids = _idsOn.TryGetValue(node, out var set) ? [.. set.Order(StringComparer.Ordinal)] : [];
                subscriber.Revision = Revision;
                return (subscriber, ids);
            },
            cancellationToken);

        try
        {
            var assignments = new AssignmentSet { Revision = subscriber.Revision };
            foreach (var id in ids)
            {
                var spec = await Store.GetAsync(StoreKeys.Replica(id), subscriber.Revision, cancellationToken);
                if (spec.Kv is null)
                {
                    continue;
                }

                // The status is read as it is now, not at the feed's revision: the feed follows
                // replica specs only, so a Lost written since its last spec change would be missed.
                // Lost is final (no report brings a replica back from it), so reading later is safe.
                var status = await Store.GetAsync(StoreKeys.ReplicaStatus(id), 0, cancellationToken);
                var replica = ObjectKindInfo.Replica.Merge(spec.Kv, status.Kv).Replica;

                // The index may already hold part of a transaction whose other changes are still to
                // come (they are delivered as deltas): read at its revision, a replica moved away
                // in that same transaction is no longer this node's.
                if (replica.Spec?.Node == node && replica.Status?.Phase != Phase.Lost)
                {
                    assignments.Assignments.Add(new Assignment { Replica = replica });
                }
            }

            return new AssignmentSubscription(assignments, subscriber);
        }
        catch
        {
            subscriber.Dispose();
            throw;
        }
    }

    /// <summary>How many node streams follow the feed now.</summary>
    public int SubscriberCount
    {
        get
        {
            lock (Gate)
            {
                return _subscribers.Values.Sum(l => l.Count);
            }
        }
    }

    protected override void Load(ListResult list)
    {
        _nodeOf.Clear();
        _idsOn.Clear();
        foreach (var kv in list.Items)
        {
            var id = StoreKeys.NameOf(kv.Key, StoreKeys.ReplicasPrefix);
            if (id.Length > 0 && !id.Contains('/', StringComparison.Ordinal))
            {
                Bind(id, ProtoJson.Decode<Replica>(kv.Value, kv.Key).Spec?.Node ?? "");
            }
        }
    }

    protected override async ValueTask ApplyAsync(StoreWatchEvent change, CancellationToken cancellationToken)
    {
        var lost = change.Type != StoreWatchEventType.Delete && await IsLostAsync(StoreKeys.NameOf(change.Kv.Key, StoreKeys.ReplicasPrefix), cancellationToken);
        Apply(change, lost);
    }

    protected override void EndSubscribers(Exception error)
    {
        foreach (var subscriber in _subscribers.Values.SelectMany(l => l))
        {
            subscriber.Channel.Writer.TryComplete(new AssignmentFeedBrokenException(error));
        }

        _subscribers.Clear();
    }

    protected override void LogFailed(Exception error) => LogFeedFailed(_logger, error);

    /// <summary>
    /// Whether the replica's status says Lost (the status is written under its own key). Read as
    /// it is now rather than at the change's revision: Lost is final, and a Lost written
    /// after the spec change being routed must still keep the replica off its node.
    /// </summary>
    private async Task<bool> IsLostAsync(string id, CancellationToken cancellationToken)
    {
        if (id.Length == 0 || id.Contains('/', StringComparison.Ordinal))
        {
            return false;
        }

        var status = await Store.GetAsync(StoreKeys.ReplicaStatus(id), 0, cancellationToken);
        return status.Kv is not null && ProtoJson.Decode<ReplicaStatus>(status.Kv.Value, status.Kv.Key).Phase == Phase.Lost;
    }

    private void Apply(StoreWatchEvent e, bool lost)
    {
        var id = StoreKeys.NameOf(e.Kv.Key, StoreKeys.ReplicasPrefix);
        if (id.Length == 0 || id.Contains('/', StringComparison.Ordinal))
        {
            lock (Gate)
            {
                Revision = e.Revision;
            }

            return;
        }

        Replica? replica = null;
        if (e.Type != StoreWatchEventType.Delete)
        {
            replica = ProtoJson.Decode<Replica>(e.Kv.Value, e.Kv.Key);
            replica.Meta ??= new ObjectMeta { Name = id };
            replica.Meta.ResourceVersion = e.Kv.ModRevision;
        }

        lock (Gate)
        {
            var before = _nodeOf.GetValueOrDefault(id, "");
            var after = replica?.Spec?.Node ?? "";
            Unbind(id, before);
            Bind(id, after);
            Revision = e.Revision;
            if (before.Length > 0 && before != after)
            {
                Send(before, new AssignmentDelta { Removed = { id }, Revision = e.Revision });
            }

            if (after.Length > 0 && lost)
            {
                // A replica judged Lost is no longer its node's, though its spec still names the
                // node: the fence for a node that comes back (the agent stops it).
                Send(after, new AssignmentDelta { Removed = { id }, Revision = e.Revision });
            }
            else if (after.Length > 0)
            {
                Send(after, new AssignmentDelta { Upserted = { new Assignment { Replica = replica } }, Revision = e.Revision });
            }
        }
    }

    /// <summary>
    /// Queues a delta for the node's subscribers. Caller holds the gate. A subscriber's full set was
    /// read at the revision being applied when it subscribed, so every change applied after that
    /// is news to it (at worst a repeat of what its set already holds, which an upsert tolerates).
    /// </summary>
    private void Send(string node, AssignmentDelta delta)
    {
        if (!_subscribers.TryGetValue(node, out var list))
        {
            return;
        }

        foreach (var subscriber in list)
        {
            subscriber.Channel.Writer.TryWrite(delta);
        }
    }

    private void Bind(string id, string node)
    {
        if (node.Length == 0)
        {
            return;
        }

        _nodeOf[id] = node;
        if (!_idsOn.TryGetValue(node, out var ids))
        {
            _idsOn[node] = ids = new HashSet<string>(StringComparer.Ordinal);
        }

        ids.Add(id);
    }

    private void Unbind(string id, string node)
    {
        if (node.Length == 0)
        {
            return;
        }

        _nodeOf.Remove(id);
        if (_idsOn.TryGetValue(node, out var ids) && ids.Remove(id) && ids.Count == 0)
        {
            _idsOn.Remove(node);
        }
    }

    private void Remove(Subscriber subscriber)
    {
        lock (Gate)
        {
            if (_subscribers.TryGetValue(subscriber.Node, out var list) && list.Remove(subscriber) && list.Count == 0)
            {
                _subscribers.Remove(subscriber.Node);
            }
        }

        subscriber.Channel.Writer.TryComplete();
    }

    internal sealed class Subscriber(string node, AssignmentFeed feed) : IDisposable
    {
        public string Node { get; } = node;

        /// <summary>The revision the full set was read at.</summary>
        public long Revision { get; set; }

        // Unbounded: the node session's own bounded queue is where a slow agent is cut off.
        public Channel<AssignmentDelta> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<AssignmentDelta>(new UnboundedChannelOptions { SingleReader = true });

        public void Dispose() => feed.Remove(this);
    }

    [LoggerMessage(EventId = 3030, Level = LogLevel.Warning, Message = "The assignment feed's watch on replicas failed; node streams resync")]
    private static partial void LogFeedFailed(ILogger logger, Exception exception);
}

/// <summary>One node stream's view of the <see cref="AssignmentFeed"/>: its full set, then its deltas.</summary>
public sealed class AssignmentSubscription : IDisposable
{
    private readonly AssignmentFeed.Subscriber _subscriber;

    internal AssignmentSubscription(AssignmentSet set, AssignmentFeed.Subscriber subscriber)
    {
        Set = set;
        _subscriber = subscriber;
    }

    /// <summary>Every replica bound to the node at <see cref="AssignmentSet.Revision"/>, spec and status.</summary>
    public AssignmentSet Set { get; }

    /// <summary>
    /// Changes after the set, in revision order. Throws <see cref="AssignmentFeedBrokenException"/>
    /// when the feed lost its watch (the stream should end so the agent resyncs).
    /// </summary>
    public IAsyncEnumerable<AssignmentDelta> Deltas(CancellationToken cancellationToken) => _subscriber.Channel.Reader.ReadAllAsync(cancellationToken);

    public void Dispose() => _subscriber.Dispose();
}

/// <summary>The assignment feed lost its store watch; a node stream following it must resync.</summary>
public sealed class AssignmentFeedBrokenException : Exception
{
    public AssignmentFeedBrokenException()
        : base("the assignment feed lost its watch on replicas")
    {
    }

    public AssignmentFeedBrokenException(string message)
        : base(message)
    {
    }

    public AssignmentFeedBrokenException(Exception inner)
        : base($"the assignment feed lost its watch on replicas ({inner?.Message}); reconnect to receive the full assignment set again", inner)
    {
    }

    public AssignmentFeedBrokenException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
