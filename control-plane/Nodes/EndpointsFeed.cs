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
/// Every service's endpoints for every node stream (docs/adr/0020-endpoints.md): a new subscriber
/// gets the full set at the feed's current revision, then one delta per change of an endpoints
/// key, in revision order with no gap. One store watch on <c>/orc/endpoints/</c> serves all node
/// streams of this control plane, as <see cref="AssignmentFeed"/> does for replicas: each change
/// is decoded and compared with the previous set once, and the same change (the new set, shared,
/// and what changed in it) is merged into every subscriber's pending updates. A subscriber is
/// sent what changed (<see cref="EndpointsDelta"/>: endpoints upserted and removed per port), or
/// a service's whole set when it is new, its ports changed, or the change is as large as the set.
/// </summary>
/// <remarks>
/// The version of a full set is the store revision the feed has applied (every endpoints change
/// up to it is in the set); the version of a delta is the revision of its change. An agent that
/// has applied version V has every endpoints change up to store revision V: that is what its
/// <c>EndpointsAck</c> says. The feed keeps the current endpoints in memory (one message per
/// service, replaced on change, never mutated), so a subscriber's full set costs no store read.
/// If the watch fails, every subscription ends (the agents reconnect into a fresh full set) and
/// the next subscriber starts the feed again from a fresh list.
/// </remarks>
public sealed partial class EndpointsFeed(IStateStore store, ILogger<EndpointsFeed>? logger = null) : StoreWatchFeed(store, StoreKeys.EndpointsPrefix, "endpoints")
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly SortedDictionary<string, ServiceEndpoints> _current = new(StringComparer.Ordinal);
    private readonly List<Subscriber> _subscribers = [];

    /// <summary>Subscribes a node stream: the full set now, then every change after it. Dispose the subscription when the stream ends.</summary>
    public Task<EndpointsSubscription> SubscribeAsync(CancellationToken cancellationToken) =>
        AttachAsync(
            () =>
            {
                var subscriber = new Subscriber(this);
                _subscribers.Add(subscriber);
                var full = new EndpointsUpdate { Version = Revision, Full = true };
                full.Services.AddRange(_current.Values);
                return new EndpointsSubscription(full, subscriber);
            },
            cancellationToken);

    /// <summary>How many node streams follow the feed now.</summary>
    public int SubscriberCount
    {
        get
        {
            lock (Gate)
            {
                return _subscribers.Count;
            }
        }
    }

    protected override void Load(ListResult list)
    {
        _current.Clear();
        foreach (var kv in list.Items)
        {
            if (Decode(kv) is { } endpoints)
            {
                _current[endpoints.Service] = endpoints;
            }
        }
    }

    protected override ValueTask ApplyAsync(StoreWatchEvent change, CancellationToken cancellationToken)
    {
        Apply(change);
        return ValueTask.CompletedTask;
    }

    protected override void EndSubscribers(Exception error)
    {
        foreach (var subscriber in _subscribers)
        {
            subscriber.Complete(new EndpointsFeedBrokenException(error));
        }

        _subscribers.Clear();
    }

    protected override void LogFailed(Exception error) => LogFeedFailed(_logger, error);

    private void Apply(StoreWatchEvent e)
    {
        if (!StoreKeys.TryNameOf(e.Kv.Key, StoreKeys.EndpointsPrefix, out var service))
        {
            // Not a service's endpoints: nothing changes, but the version still moves on.
            lock (Gate)
            {
                Revision = e.Revision;
            }

            return;
        }

        var endpoints = e.Type == StoreWatchEventType.Delete ? null : Decode(e.Kv);

        // Only this loop writes _current, so reading it outside the lock is safe; the diff (linear
        // in the set's size) is computed once here for every node stream, outside the lock.
        _current.TryGetValue(service, out var before);
        var diff = endpoints is not null && before is not null ? EndpointsDeltas.Diff(before, endpoints) : null;
        lock (Gate)
        {
            Revision = e.Revision;
            if (endpoints is null)
            {
                if (!_current.Remove(service))
                {
                    return;
                }
            }
            else
            {
                _current[service] = endpoints;
            }

            var change = new EndpointsChange(service, e.Revision, endpoints, diff);
            foreach (var subscriber in _subscribers)
            {
                subscriber.Offer(change);
            }
        }
    }

    /// <summary>The endpoints stored in <paramref name="kv"/> with their version (the key's mod revision); null if unreadable.</summary>
    private ServiceEndpoints? Decode(KeyValue kv)
    {
        if (!StoreKeys.TryNameOf(kv.Key, StoreKeys.EndpointsPrefix, out var service))
        {
            return null;
        }

        try
        {
            var endpoints = ProtoJson.Decode<ServiceEndpoints>(kv.Value, kv.Key);
            endpoints.Service = service;
            endpoints.Version = kv.ModRevision;
            return endpoints;
        }
        catch (InvalidStoredObjectException ex)
        {
            // Not written by the endpoints controller; it rewrites the key from the current state.
            LogUnreadable(_logger, kv.Key, ex.Message);
            return null;
        }
    }

    private void Remove(Subscriber subscriber)
    {
        lock (Gate)
        {
            _subscribers.Remove(subscriber);
        }

        subscriber.Complete(null);
    }

    /// <summary>
    /// One node stream's pending changes, merged (<see cref="PendingEndpoints"/>): per service its
    /// composed delta, its latest whole set or its removal waits to be sent, with the latest
    /// version. A node that reads slower than the endpoints change gets fewer, merged updates, and
    /// what waits for it is bounded by the sets the feed holds anyway, not by the number of
    /// changes (a 10,000-replica service turning Ready one replica at a time would otherwise queue
    /// 10,000 updates for every node).
    /// </summary>
    internal sealed class Subscriber(EndpointsFeed feed) : IDisposable
    {
        private readonly Lock _gate = new();
        private readonly PendingEndpoints _pending = new();
        private readonly Channel<bool> _signal = System.Threading.Channels.Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

        /// <summary>Merges <paramref name="change"/> into what waits to be sent.</summary>
        public void Offer(EndpointsChange change)
        {
            lock (_gate)
            {
                _pending.Offer(change);
            }

            _signal.Writer.TryWrite(true);
        }

        /// <summary>Ends the updates: cleanly (null), or with <paramref name="error"/> thrown to the reader.</summary>
        public void Complete(Exception? error) => _signal.Writer.TryComplete(error);

        /// <summary>The merged changes, one update each time something is pending.</summary>
        public async IAsyncEnumerable<EndpointsUpdate> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            while (await _signal.Reader.WaitToReadAsync(cancellationToken))
            {
                _signal.Reader.TryRead(out _);
                if (Take() is { } update)
                {
                    yield return update;
                }
            }
        }

        private EndpointsUpdate? Take()
        {
            lock (_gate)
            {
                return _pending.Take();
            }
        }

        public void Dispose() => feed.Remove(this);
    }

    [LoggerMessage(EventId = 3050, Level = LogLevel.Warning, Message = "The endpoints feed's watch failed; node streams resync")]
    private static partial void LogFeedFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3051, Level = LogLevel.Warning, Message = "Endpoints key {Key} is unreadable ({Problem}); left out of the updates sent to agents")]
    private static partial void LogUnreadable(ILogger logger, string key, string problem);
}

/// <summary>One node stream's view of the <see cref="EndpointsFeed"/>: the full set, then deltas.</summary>
public sealed class EndpointsSubscription : IDisposable
{
    private readonly EndpointsFeed.Subscriber _subscriber;

    internal EndpointsSubscription(EndpointsUpdate full, EndpointsFeed.Subscriber subscriber)
    {
        Full = full;
        _subscriber = subscriber;
    }

    /// <summary>Every service's endpoints at <see cref="EndpointsUpdate.Version"/>, with <see cref="EndpointsUpdate.Full"/> set.</summary>
    public EndpointsUpdate Full { get; }

    /// <summary>
    /// Changes after the full set, in revision order. Throws <see cref="EndpointsFeedBrokenException"/>
    /// when the feed lost its watch (the stream should end so the agent resyncs).
    /// </summary>
    public IAsyncEnumerable<EndpointsUpdate> Updates(CancellationToken cancellationToken) => _subscriber.ReadAllAsync(cancellationToken);

    public void Dispose() => _subscriber.Dispose();
}

/// <summary>The endpoints feed lost its store watch; a node stream following it must resync.</summary>
public sealed class EndpointsFeedBrokenException : Exception
{
    public EndpointsFeedBrokenException()
        : base("the endpoints feed lost its watch")
    {
    }

    public EndpointsFeedBrokenException(string message)
        : base(message)
    {
    }

    public EndpointsFeedBrokenException(Exception inner)
        : base($"the endpoints feed lost its watch ({inner?.Message}); reconnect to receive every service's endpoints again", inner)
    {
    }

    public EndpointsFeedBrokenException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
