using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// Every service's endpoints for every node stream (docs/adr/0020-endpoints.md): a new subscriber
/// gets the full set at the feed's current revision, then one delta per change of an endpoints
/// key, in revision order with no gap. One store watch on <c>/orc/endpoints/</c> serves all node
/// streams of this control plane, as <see cref="AssignmentFeed"/> does for replicas: each change
/// is decoded once and the same delta is queued for every subscriber.
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
public sealed partial class EndpointsFeed(IStateStore store, ILogger<EndpointsFeed>? logger = null) : IAsyncDisposable
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly Lock _gate = new();
    private readonly SortedDictionary<string, ServiceEndpoints> _current = new(StringComparer.Ordinal);
    private readonly List<Subscriber> _subscribers = [];
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource? _ready;
    private Task _run = Task.CompletedTask;
    private long _revision;

    /// <summary>Subscribes a node stream: the full set now, then every change after it. Dispose the subscription when the stream ends.</summary>
    public async Task<EndpointsSubscription> SubscribeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await EnsureRunningAsync(cancellationToken);
            lock (_gate)
            {
                if (_ready is not { Task.IsCompletedSuccessfully: true })
                {
                    // The feed failed again between starting and now: start it once more.
                    continue;
                }

                var subscriber = new Subscriber(this);
                _subscribers.Add(subscriber);
                var full = new EndpointsUpdate { Version = _revision, Full = true };
                full.Services.AddRange(_current.Values);
                return new EndpointsSubscription(full, subscriber);
            }
        }
    }

    /// <summary>How many node streams follow the feed now.</summary>
    public int SubscriberCount
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private Task EnsureRunningAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource ready;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
            if (_ready is null)
            {
                _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var started = _ready;
                _run = Task.Run(() => RunAsync(started), CancellationToken.None);
            }

            ready = _ready;
        }

        return ready.Task.WaitAsync(cancellationToken);
    }

    private async Task RunAsync(TaskCompletionSource ready)
    {
        var token = _stopping.Token;
        try
        {
            var list = await store.ListAsync(StoreKeys.EndpointsPrefix, 0, 0, token);
            lock (_gate)
            {
                _current.Clear();
                foreach (var kv in list.Items)
                {
                    if (Decode(kv) is { } endpoints)
                    {
                        _current[endpoints.Service] = endpoints;
                    }
                }

                _revision = list.Revision;
            }

            ready.TrySetResult();
            await foreach (var e in store.WatchAsync(StoreKeys.EndpointsPrefix, list.Revision + 1, token))
            {
                Apply(e);
            }

            throw new StateStoreException("the store ended the watch on endpoints");
        }
        catch (Exception e)
        {
            if (!token.IsCancellationRequested)
            {
                LogFeedFailed(_logger, e);
            }

            lock (_gate)
            {
                ready.TrySetException(e);
                if (ReferenceEquals(_ready, ready))
                {
                    _ready = null;
                }

                foreach (var subscriber in _subscribers)
                {
                    subscriber.Complete(new EndpointsFeedBrokenException(e));
                }

                _subscribers.Clear();
            }
        }
    }

    private void Apply(Store.WatchEvent e)
    {
        var delta = new EndpointsUpdate { Version = e.Revision };
        if (!StoreKeys.TryNameOf(e.Kv.Key, StoreKeys.EndpointsPrefix, out var service))
        {
            // Not a service's endpoints: nothing changes, but the version still moves on.
            lock (_gate)
            {
                _revision = e.Revision;
            }

            return;
        }

        var endpoints = e.Type == StoreWatchEventType.Delete ? null : Decode(e.Kv);
        lock (_gate)
        {
            _revision = e.Revision;
            if (endpoints is null)
            {
                if (!_current.Remove(service))
                {
                    return;
                }

                delta.RemovedServices.Add(service);
            }
            else
            {
                _current[service] = endpoints;
                delta.Services.Add(endpoints);
            }

            foreach (var subscriber in _subscribers)
            {
                subscriber.Offer(delta);
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
        lock (_gate)
        {
            _subscribers.Remove(subscriber);
        }

        subscriber.Complete(null);
    }

    /// <summary>
    /// One node stream's pending changes, merged: per service only its latest set (or its
    /// removal) waits to be sent, with the latest version. A node that reads slower than the
    /// endpoints change gets fewer, merged updates, and what waits for it is bounded by the
    /// number of services, not by the number of changes (a 10,000-replica service turning Ready
    /// one replica at a time would otherwise queue 10,000 full sets for every node).
    /// </summary>
    internal sealed class Subscriber(EndpointsFeed feed) : IDisposable
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, ServiceEndpoints?> _pending = new(StringComparer.Ordinal);
        private readonly Channel<bool> _signal = System.Threading.Channels.Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
        private long _version;

        /// <summary>Merges <paramref name="delta"/> into what waits to be sent.</summary>
        public void Offer(EndpointsUpdate delta)
        {
            lock (_gate)
            {
                foreach (var service in delta.Services)
                {
                    _pending[service.Service] = service;
                }

                foreach (var removed in delta.RemovedServices)
                {
                    _pending[removed] = null;
                }

                _version = Math.Max(_version, delta.Version);
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
                if (_pending.Count == 0)
                {
                    return null;
                }

                var update = new EndpointsUpdate { Version = _version };
                foreach (var (service, endpoints) in _pending.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (endpoints is null)
                    {
                        update.RemovedServices.Add(service);
                    }
                    else
                    {
                        update.Services.Add(endpoints);
                    }
                }

                _pending.Clear();
                return update;
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
