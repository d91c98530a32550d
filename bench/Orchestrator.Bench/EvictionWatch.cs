using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;
using StoreWatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using StoreWatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.Bench;

/// <summary>What <see cref="EvictionWatch"/> counted; subtract two to get a window.</summary>
internal sealed record EvictionCounts(
    long NodeNotReady,
    long LivenessLapses,
    long ReplicasLost,
    long NodeLostEvents,
    long ReplicaLostEvents,
    long PausedEvents,
    long EvictionsHeldEvents)
{
    public static EvictionCounts operator -(EvictionCounts a, EvictionCounts b) => new(
        a.NodeNotReady - b.NodeNotReady,
        a.LivenessLapses - b.LivenessLapses,
        a.ReplicasLost - b.ReplicasLost,
        a.NodeLostEvents - b.NodeLostEvents,
        a.ReplicaLostEvents - b.ReplicaLostEvents,
        a.PausedEvents - b.PausedEvents,
        a.EvictionsHeldEvents - b.EvictionsHeldEvents);
}

/// <summary>
/// Follows the store from one revision on, without missing a change (store watches), and counts
/// what a false eviction leaves behind: nodes going from Ready to NotReady or Down, node liveness
/// keys deleted (a lease that ran out, or a stream that ended), replicas whose phase becomes Lost,
/// and the node lifecycle controller's events: <c>NodeLost</c> on nodes and on replicas,
/// <c>ControlPlanePaused</c> and <c>EvictionsHeld</c> (its guards). It also keeps the names, for
/// the report. Dispose stops the watches.
/// </summary>
internal sealed class EvictionWatch : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _watches = [];
    private readonly Dictionary<string, NodeState> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Phase> _replicas = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _names = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _nodeNotReady;
    private long _lapses;
    private long _replicasLost;
    private long _nodeLostEvents;
    private long _replicaLostEvents;
    private long _pausedEvents;
    private long _heldEvents;
    private Exception? _failure;

    private EvictionWatch()
    {
    }

    /// <summary>Reads the nodes' and replicas' current state, then watches every change after it.</summary>
    public static async Task<EvictionWatch> StartAsync(IStateStore store)
    {
        var watch = new EvictionWatch();
        var nodes = await store.ListAsync(StoreKeys.NodeStatusPrefix);
        var revision = nodes.Revision;
        var replicas = await store.ListAsync(StoreKeys.ReplicaStatusPrefix, revision);
        foreach (var kv in nodes.Items)
        {
            watch._nodes[kv.Key] = ProtoJson.Decode<NodeStatus>(kv.Value, kv.Key).State;
        }

        foreach (var kv in replicas.Items)
        {
            watch._replicas[kv.Key] = ProtoJson.Decode<ReplicaStatus>(kv.Value, kv.Key).Phase;
        }

        watch.Follow(store, StoreKeys.NodeStatusPrefix, revision + 1, watch.OnNodeStatus);
        watch.Follow(store, StoreKeys.NodeLivenessPrefix, revision + 1, watch.OnLiveness);
        watch.Follow(store, StoreKeys.ReplicaStatusPrefix, revision + 1, watch.OnReplicaStatus);
        watch.Follow(store, StoreKeys.EventsPrefix, revision + 1, watch.OnEvent);
        return watch;
    }

    /// <summary>The counts so far; throws when a watch broke (the counts would be incomplete).</summary>
    public EvictionCounts Counts()
    {
        lock (_lock)
        {
            if (_failure is not null)
            {
                throw new InvalidOperationException($"a store watch of the false-eviction count broke, so the counts are incomplete: {_failure.Message}", _failure);
            }

            return new EvictionCounts(_nodeNotReady, _lapses, _replicasLost, _nodeLostEvents, _replicaLostEvents, _pausedEvents, _heldEvents);
        }
    }

    /// <summary>What was seen so far, one entry per node or replica involved (at most <paramref name="limit"/>).</summary>
    public string Names(int limit = 20)
    {
        lock (_lock)
        {
            return _names.Count == 0 ? "none" : string.Join(", ", _names.Take(limit)) + (_names.Count > limit ? ", ..." : "");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var watch in _watches)
        {
            try
            {
                await watch;
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
    }

    private void Follow(IStateStore store, string prefix, long fromRevision, Action<StoreWatchEvent> onChange)
    {
        _watches.Add(Task.Run(async () =>
        {
            try
            {
                await foreach (var change in store.WatchAsync(prefix, fromRevision, _stop.Token))
                {
                    lock (_lock)
                    {
                        onChange(change);
                    }
                }
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                lock (_lock)
                {
                    _failure ??= e;
                }
            }
        }));
    }

    private void OnNodeStatus(StoreWatchEvent change)
    {
        var key = change.Kv.Key;
        if (change.Type == StoreWatchEventType.Delete)
        {
            _nodes.Remove(key);
            return;
        }

        var state = ProtoJson.Decode<NodeStatus>(change.Kv.Value, key).State;
        if (_nodes.TryGetValue(key, out var before) && before == NodeState.Ready && state is NodeState.NotReady or NodeState.Down)
        {
            _nodeNotReady++;
            _names.Add($"node {key[StoreKeys.NodeStatusPrefix.Length..]} {state}");
        }

        _nodes[key] = state;
    }

    private void OnLiveness(StoreWatchEvent change)
    {
        if (change.Type == StoreWatchEventType.Delete)
        {
            _lapses++;
            _names.Add($"node {change.Kv.Key[StoreKeys.NodeLivenessPrefix.Length..]} liveness lapsed");
        }
    }

    private void OnReplicaStatus(StoreWatchEvent change)
    {
        var key = change.Kv.Key;
        if (change.Type == StoreWatchEventType.Delete)
        {
            _replicas.Remove(key);
            return;
        }

        var phase = ProtoJson.Decode<ReplicaStatus>(change.Kv.Value, key).Phase;
        if (phase == Phase.Lost && _replicas.GetValueOrDefault(key) != Phase.Lost)
        {
            _replicasLost++;
            _names.Add($"replica {key[StoreKeys.ReplicaStatusPrefix.Length..]} Lost");
        }

        _replicas[key] = phase;
    }

    private void OnEvent(StoreWatchEvent change)
    {
        if (change.Type == StoreWatchEventType.Delete)
        {
            return; // an event expiring
        }

        var e = ProtoJson.Decode<Event>(change.Kv.Value, change.Kv.Key);
        switch (e.Reason, e.Object?.Kind)
        {
            case ("NodeLost", "node"):
                _nodeLostEvents++;
                break;
            case ("NodeLost", "replica"):
                _replicaLostEvents++;
                break;
            case ("ControlPlanePaused", _):
                _pausedEvents++;
                _names.Add($"event ControlPlanePaused: {e.Message}");
                break;
            case ("EvictionsHeld", _):
                _heldEvents++;
                _names.Add($"event EvictionsHeld: {e.Message}");
                break;
        }
    }
}
