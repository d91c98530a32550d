using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Telemetry;
using Orchestrator.V1;
using WatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;
using WatchEventType = Orchestrator.ControlPlane.Store.WatchEventType;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// The scheduler's loop (leader only). It lists nodes, replicas and allocations once, then keeps
/// a <see cref="ClusterSnapshot"/> current from store watches, and places every pending replica,
/// oldest first, with the <see cref="Scheduler"/>.
/// <para>
/// Bindings are assumed in the snapshot at once (so the next decision sees the room taken) and
/// committed in batches: one transaction per batch writes each replica's spec (node, host ports,
/// generation + 1) and status (Scheduled, with its explanation), guarded by both replica keys'
/// mod revisions and by each node's allocation key (<see cref="StoreKeys.Allocation"/>), which
/// every binding rewrites. Two schedulers (a deposed leader and its successor) can therefore never
/// both fill the same room: the second transaction fails, its assumptions are undone, the keys it
/// compared are read again, and its replicas are decided again on what the store holds now.
/// </para>
/// <para>
/// A replica nothing fits stays Pending with reason Unschedulable and a message counting the
/// rejecting rules. It is tried again when room may have grown (a node joins, turns Ready or is
/// uncordoned, a replica ends or goes away), never on a timer.
/// </para>
/// </summary>
public sealed partial class PlacementLoop(
    IStateStore store,
    Scheduler scheduler,
    TimeProvider time,
    ControllerOptions options,
    EventRecorder events,
    ILogger<PlacementLoop> logger,
    ControlPlaneTelemetry? telemetry = null) : BackgroundService
{
    public const string Unschedulable = "Unschedulable";
    private const string Source = "scheduler";
    private static readonly string[] WatchedPrefixes =
        [StoreKeys.NodesPrefix, StoreKeys.NodeStatusPrefix, StoreKeys.AllocationsPrefix, StoreKeys.ReplicasPrefix, StoreKeys.ReplicaStatusPrefix];

    private readonly Channel<Func<ClusterSnapshot, bool>> _requests = Channel.CreateUnbounded<Func<ClusterSnapshot, bool>>();
    private readonly PlacementStats _stats = new();
    private State? _state;
    private long _placed;
    private long _conflicts;

    /// <summary>Replicas bound since the loop started (for tests and the benchmark).</summary>
    public long Placed => Interlocked.Read(ref _placed);

    /// <summary>Binding transactions that lost a compare-and-swap and were retried.</summary>
    public long Conflicts => Interlocked.Read(ref _conflicts);

    /// <summary>Where the loop's time went since it started (the benchmark reports it).</summary>
    public PlacementStats Stats => _stats;

    /// <summary>Whether the loop runs here and has its snapshot (this control plane leads and has listed the cluster).</summary>
    public bool HasSnapshot => Volatile.Read(ref _state) is not null;

    /// <summary>
    /// Runs <paramref name="read"/> on the loop's snapshot between two batches (the snapshot is
    /// never touched by two threads at once); null when the loop has no snapshot.
    /// </summary>
    public async Task<T?> ReadAsync<T>(Func<ClusterSnapshot, T> read, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(read);
        if (!HasSnapshot)
        {
            return null;
        }

        var done = new TaskCompletionSource<T?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _requests.Writer.WriteAsync(
            snapshot =>
            {
                try
                {
                    done.TrySetResult(read(snapshot));
                }
                catch (Exception ex)
                {
                    done.TrySetException(ex);
                }

                return true;
            },
            cancellationToken);
        return await done.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (StateStoreException ex)
            {
                LogRestart(logger, ex.Message);
            }
            finally
            {
                Volatile.Write(ref _state, null);
            }

            try
            {
                await Task.Delay(options.WatchRetryDelay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // Answer readers left waiting: the loop has no snapshot any more.
        while (_requests.Reader.TryRead(out var request))
        {
            request(new ClusterSnapshot());
        }
    }

    /// <summary>List, then watch and place until the watch fails or the host stops.</summary>
    private async Task RunAsync(CancellationToken stoppingToken)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var state = new State();
        var listing = Stopwatch.GetTimestamp();
        var revision = await ListAsync(state, cancel.Token);
        PlacementStats.Add(ref _stats.Listing, listing);
        var changes = Channel.CreateUnbounded<WatchEvent>(new UnboundedChannelOptions { SingleReader = true });
        var pumps = WatchedPrefixes.Select(p => PumpAsync(p, revision + 1, changes.Writer, cancel.Token)).ToList();
        var failed = Task.WhenAny(pumps);
        Volatile.Write(ref _state, state);
        LogStarted(logger, state.Snapshot.Nodes.Count, state.Replicas.Count, state.Queue.Count);
        try
        {
            while (true)
            {
                cancel.Token.ThrowIfCancellationRequested();
                var applying = Stopwatch.GetTimestamp();
                while (changes.Reader.TryRead(out var change))
                {
                    Apply(state, change);
                }

                PlacementStats.Add(ref _stats.Applying, applying);

                state.RequeueIfRoomGrew();
                while (_requests.Reader.TryRead(out var request))
                {
                    request(state.Snapshot);
                }

                if (state.Queue.Count > 0)
                {
                    await PlaceBatchAsync(state, cancel.Token);
                    continue;
                }

                if (state.InFlight.Count > 0)
                {
                    await FinishCommitAsync(state, cancel.Token);
                    continue;
                }

                if (state.Events.Count > 0)
                {
                    await state.EventsWrite;
                    FlushEvents(state, cancel.Token);
                }

                var next = await Task.WhenAny(changes.Reader.WaitToReadAsync(cancel.Token).AsTask(), _requests.Reader.WaitToReadAsync(cancel.Token).AsTask(), failed);
                if (next == failed)
                {
                    await await failed;
                    throw new StateStoreException("a placement watch ended");
                }

            }
        }
        finally
        {
            await cancel.CancelAsync();
            foreach (var pending in state.InFlight.Select(f => f.Commit).Append(state.EventsWrite))
            {
                try
                {
                    await (pending ?? Task.CompletedTask);
                }
                catch (Exception ex) when (ex is OperationCanceledException or StateStoreException)
                {
                    // Ending anyway: what was not committed stays pending in the store for the next leader.
                }
            }

            foreach (var pump in pumps)
            {
                try
                {
                    await pump;
                }
                catch (Exception ex) when (ex is OperationCanceledException or StateStoreException)
                {
                    // The loop is ending; the watch's own failure was reported above.
                }
            }
        }
    }

    private async Task<long> ListAsync(State state, CancellationToken cancellationToken)
    {
        var revision = await store.GetRevisionAsync(cancellationToken);
        foreach (var prefix in WatchedPrefixes)
        {
            var list = await store.ListAsync(prefix, revision, 0, cancellationToken);
            foreach (var kv in list.Items)
            {
                Apply(state, new WatchEvent(WatchEventType.Put, kv, null));
            }
        }

        state.RequeueIfRoomGrew();
        return revision;
    }

    private async Task PumpAsync(string prefix, long from, ChannelWriter<WatchEvent> writer, CancellationToken cancellationToken)
    {
        await foreach (var change in store.WatchAsync(prefix, from, cancellationToken))
        {
            await writer.WriteAsync(change, cancellationToken);
        }
    }

    /// <summary>Folds one stored change into the snapshot and the queue. Changes older than what is known for a key are ignored.</summary>
    private static void Apply(State state, WatchEvent change)
    {
        var key = change.Kv.Key;
        var deleted = change.Type == WatchEventType.Delete;
        if (key.StartsWith(StoreKeys.ReplicaStatusPrefix, StringComparison.Ordinal))
        {
            var id = key[StoreKeys.ReplicaStatusPrefix.Length..];
            var replica = state.Replica(id);
            if (change.Revision <= replica.StatusModRevision || SkipWhileBinding(replica, change))
            {
                return;
            }

            replica.StatusModRevision = deleted ? 0 : change.Revision;
            replica.Status = deleted || !TryDecode<ReplicaStatus>(change.Kv, out var status) ? null : status;
            state.Refresh(replica);
        }
        else if (key.StartsWith(StoreKeys.ReplicasPrefix, StringComparison.Ordinal))
        {
            var id = key[StoreKeys.ReplicasPrefix.Length..];
            var replica = state.Replica(id);
            if (change.Revision <= replica.SpecModRevision || SkipWhileBinding(replica, change))
            {
                return;
            }

            if (deleted)
            {
                state.Forget(replica);
                return;
            }

            replica.SpecModRevision = change.Revision;
            replica.Object = TryDecode<Replica>(change.Kv, out var decoded) ? state.ShareTemplate(decoded) : null;
            state.Refresh(replica);
        }
        else if (key.StartsWith(StoreKeys.AllocationsPrefix, StringComparison.Ordinal))
        {
            var node = key[StoreKeys.AllocationsPrefix.Length..];
            var current = state.Snapshot.Node(node)?.AllocationRevision ?? 0;
            if (deleted || change.Revision > current)
            {
                state.Snapshot.SetAllocationRevision(node, deleted ? 0 : change.Revision);
            }
        }
        else if (key.StartsWith(StoreKeys.NodeStatusPrefix, StringComparison.Ordinal))
        {
            var node = state.NodeRecord(key[StoreKeys.NodeStatusPrefix.Length..]);
            if (change.Revision <= node.StatusModRevision)
            {
                return;
            }

            node.StatusModRevision = deleted ? 0 : change.Revision;
            node.Status = deleted || !TryDecode<NodeStatus>(change.Kv, out var status) ? null : status;
            state.Refresh(node);
        }
        else if (key.StartsWith(StoreKeys.NodesPrefix, StringComparison.Ordinal))
        {
            var name = key[StoreKeys.NodesPrefix.Length..];
            if (name.Contains('/', StringComparison.Ordinal))
            {
                return;
            }

            var node = state.NodeRecord(name);
            if (change.Revision <= node.ModRevision)
            {
                return;
            }

            node.ModRevision = deleted ? 0 : change.Revision;
            node.Object = deleted || !TryDecode<Node>(change.Kv, out var decoded) ? null : decoded;
            state.Refresh(node);
        }
    }

    /// <summary>
    /// While a replica's binding is in flight, the watch brings that binding's own writes (before
    /// the commit has returned when several are in flight): they are not decoded, only noted. The
    /// commit settles the replica; a change newer than the commit is read again after it.
    /// </summary>
    private static bool SkipWhileBinding(TrackedReplica replica, WatchEvent change)
    {
        if (!replica.Binding)
        {
            return false;
        }

        replica.SeenWhileBinding = Math.Max(replica.SeenWhileBinding, change.Revision);
        return true;
    }

    /// <summary>
    /// Decides as many queued replicas as one transaction can bind and assumes them in the
    /// snapshot, then finishes the previous batch's commit and starts this one's: deciding a
    /// batch overlaps the store round trip of the one before. A batch decided while the one
    /// before was in flight saw that one's room as taken; if that commit then fails, the later
    /// batch was only conservative, never overcommitted.
    /// </summary>
    private async Task PlaceBatchAsync(State state, CancellationToken cancellationToken)
    {
        var batch = new Batch(scheduler.Options.MaxTxnOps);
        var failures = new Dictionary<(string Owner, long Revision), PlacementDecision>();
        var failuresAtRoom = state.Snapshot.RoomVersion;
        while (batch.HasRoom && state.Queue.TryDequeue(out var id, out _))
        {
            state.Queued.Remove(id);
            if (!state.Replicas.TryGetValue(id, out var replica) || !replica.IsPending)
            {
                continue;
            }

            var spec = replica.Object!.Spec;
            var now = time.GetUtcNow();
            var started = Stopwatch.GetTimestamp();
            var sameTemplate = (ClusterSnapshot.OwnerKey(spec.Owner), spec.Revision);
            if (!failures.TryGetValue(sameTemplate, out var decision) || failuresAtRoom != state.Snapshot.RoomVersion)
            {
                decision = scheduler.PlaceFrom(state.Request(id, spec), state.Snapshot, now, state.ScanStart, out var checkedNodes);
                state.ScanStart = (state.ScanStart + checkedNodes) % Math.Max(1, state.Snapshot.Nodes.Count);
                PlacementStats.Add(ref _stats.Deciding, started);
                if (!decision.Placed && spec.Owner is not null)
                {
                    // Until room grows, every replica of the same owner and revision gets the same answer.
                    failures[sameTemplate] = decision;
                    failuresAtRoom = state.Snapshot.RoomVersion;
                }
            }

            telemetry?.SchedulingDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("outcome", decision.Placed ? "placed" : "unschedulable"));
            if (decision.Node is { } node)
            {
                var allocation = new ReplicaAllocation(node, ClusterSnapshot.OwnerKey(spec.Owner), spec.Template?.Resources?.CpuMillis ?? 0, spec.Template?.Resources?.MemoryBytes ?? 0, [.. decision.HostPorts.Values], true, true);
                state.Snapshot.SetAllocation(id, allocation);
                batch.Bind(replica, decision, now);
                replica.Binding = true;
            }
            else
            {
                state.Unschedulable.Add(id);
                if (replica.Status is not { Phase: Phase.Pending, Reason: Unschedulable } current || current.Message != decision.Explanation.Message)
                {
                    batch.MarkUnschedulable(replica, decision, now);
                }
            }
        }

        if (batch.IsEmpty)
        {
            return;
        }

        // Encoding needs no revision: with a commit in flight it runs on another thread (the second
        // core) while the loop waits for that commit and folds its outcome in.
        var writer = state.Writer;
        var encoding = state.InFlight.Count == 0 ? Task.FromResult(Encode(batch, writer)) : Task.Run(() => Encode(batch, writer), cancellationToken);

        // A batch compares each node's allocation key at the revision the last commit to that node
        // gave it, so it waits for every batch in flight that touches one of its nodes (oldest
        // first); a batch on other nodes goes out at once, up to MaxTxnsInFlight at a time.
        while (state.InFlight.Count > 0
            && (state.InFlight.Count >= Math.Max(1, scheduler.Options.MaxTxnsInFlight) || state.InFlight.Any(f => f.Batch.SharesNodeWith(batch))))
        {
            await FinishCommitAsync(state, cancellationToken);
        }

        var puts = await encoding;
        var (ifs, thens) = batch.Complete(state.Snapshot, puts);
        state.InFlight.Enqueue((batch, store.TxnAsync(new Txn(ifs, thens, []), cancellationToken)));
    }

    private List<TxnOp> Encode(Batch batch, BindingWriter writer)
    {
        var started = Stopwatch.GetTimestamp();
        var puts = batch.EncodeReplicas(writer);
        PlacementStats.Add(ref _stats.Encoding, started);
        return puts;
    }

    /// <summary>Waits for the oldest batch in flight, if any, and folds its outcome into the snapshot and the queue.</summary>
    private async Task FinishCommitAsync(State state, CancellationToken cancellationToken)
    {
        if (!state.InFlight.TryDequeue(out var inFlight))
        {
            return;
        }

        var (batch, commit) = inFlight;
        var waiting = Stopwatch.GetTimestamp();
        var result = await commit;
        PlacementStats.Add(ref _stats.WaitingForStore, waiting);
        if (!result.Succeeded)
        {
            // Someone else wrote one of these keys: undo what was assumed, read the keys the
            // transaction compared (the watch may not have brought the change yet), and queue
            // the replicas again to be decided on what is true now.
            Interlocked.Increment(ref _conflicts);
            foreach (var (replica, _, _) in batch.Bindings)
            {
                replica.Binding = false;
                replica.SeenWhileBinding = 0;
                state.Snapshot.RemoveReplica(replica.Id);
            }

            foreach (var key in batch.ComparedKeys())
            {
                await ReadAgainAsync(state, key, cancellationToken);
            }

            // Count what the watch brought for them while the binding was in flight.
            foreach (var (replica, _, _) in batch.Bindings)
            {
                if (state.Replicas.TryGetValue(replica.Id, out var tracked) && ReferenceEquals(tracked, replica))
                {
                    state.Refresh(replica);
                }
            }

            foreach (var replica in batch.Bindings.Select(b => b.Replica).Concat(batch.Unschedulables.Select(u => u.Replica)))
            {
                state.Unschedulable.Remove(replica.Id);
                if (state.Replicas.TryGetValue(replica.Id, out var current) && current.IsPending)
                {
                    state.Enqueue(current);
                }
            }

            LogConflict(logger, batch.Bindings.Count + batch.Unschedulables.Count);
            return;
        }

        var changedSince = new List<TrackedReplica>();
        foreach (var (replica, decision, _) in batch.Bindings)
        {
            replica.Binding = false;
            if (replica.SeenWhileBinding > result.Revision)
            {
                changedSince.Add(replica);
            }

            replica.SeenWhileBinding = 0;
            replica.SpecModRevision = result.Revision;
            replica.StatusModRevision = result.Revision;
            replica.Object = State.Compact(replica.Object!, decision.Node!, decision.HostPorts);
            replica.Status = new ReplicaStatus { Phase = Phase.Scheduled };
            state.Snapshot.SetAllocationRevision(decision.Node!, result.Revision);
            var ports = decision.HostPorts.Count == 0 ? "" : " with host ports " + string.Join(", ", decision.HostPorts.Select(p => $"{p.Key} {p.Value}"));
            var message = decision.Explanation.Message.Replace("Scheduled on ", $"Scheduled {replica.Id} on ", StringComparison.Ordinal) + ports;
            state.Events.Add(new EventDraft("replica", replica.Id, EventType.Normal, "Scheduled", message, Source));
            LogScheduled(logger, replica.Id, decision.Node!);
        }

        foreach (var (replica, decision, status) in batch.Unschedulables)
        {
            replica.StatusModRevision = result.Revision;
            replica.Status = status;
            state.Events.Add(new EventDraft("replica", replica.Id, EventType.Warning, "FailedScheduling", $"Cannot schedule {replica.Id}: {decision.Explanation.Message}", Source));
            LogUnschedulable(logger, replica.Id, decision.Explanation.Message);
        }

        // Someone wrote these replicas after the binding (the watch brought it while the commit was in flight): read them again.
        foreach (var replica in changedSince)
        {
            await ReadAgainAsync(state, StoreKeys.Replica(replica.Id), cancellationToken);
            await ReadAgainAsync(state, StoreKeys.ReplicaStatus(replica.Id), cancellationToken);
        }

        Interlocked.Add(ref _placed, batch.Bindings.Count);
        FlushEvents(state, cancellationToken);
    }

    /// <summary>Folds what the store holds now for <paramref name="key"/> into the state (the watch may lag).</summary>
    private async Task ReadAgainAsync(State state, string key, CancellationToken cancellationToken)
    {
        var current = await store.GetAsync(key, 0, cancellationToken);
        Apply(state, current.Kv is { } kv
            ? new WatchEvent(WatchEventType.Put, kv, null)
            : new WatchEvent(WatchEventType.Delete, new KeyValue(key, [], 0, current.Revision, 0, 0), null));
    }

    /// <summary>Starts writing the events gathered so far unless a write is still running (the next flush takes them): events never hold up a binding.</summary>
    private void FlushEvents(State state, CancellationToken cancellationToken)
    {
        if (state.Events.Count == 0 || !state.EventsWrite.IsCompleted)
        {
            return;
        }

        var drafts = state.Events.ToList();
        state.Events.Clear();
        state.EventsWrite = events.RecordManyAsync(drafts, scheduler.Options.MaxTxnOps, cancellationToken);
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

    [LoggerMessage(EventId = 1330, Level = LogLevel.Debug, Message = "Scheduled replica {Replica} on {Node}")]
    private static partial void LogScheduled(ILogger logger, string replica, string node);

    [LoggerMessage(EventId = 1331, Level = LogLevel.Information, Message = "Replica {Replica} is unschedulable: {Message}")]
    private static partial void LogUnschedulable(ILogger logger, string replica, string message);

    [LoggerMessage(EventId = 1332, Level = LogLevel.Information, Message = "Placement started with {Nodes} nodes, {Replicas} replicas, {Pending} pending")]
    private static partial void LogStarted(ILogger logger, int nodes, int replicas, int pending);

    [LoggerMessage(EventId = 1333, Level = LogLevel.Warning, Message = "Placement restarts after a store failure: {Error}")]
    private static partial void LogRestart(ILogger logger, string error);

    [LoggerMessage(EventId = 1334, Level = LogLevel.Debug, Message = "A binding transaction of {Count} replicas lost a compare-and-swap; deciding them again on what the store holds now")]
    private static partial void LogConflict(ILogger logger, int count);

    /// <summary>One replica as the loop tracks it: the full object only while it waits for a node.</summary>
    private sealed class TrackedReplica(string id)
    {
        public string Id { get; } = id;

        public long SpecModRevision { get; set; }

        public long StatusModRevision { get; set; }

        /// <summary>The stored replica while unbound (a binding rewrites it); null once bound.</summary>
        public Replica? Object { get; set; }

        /// <summary>The stored status while unbound (to write only changed reasons); null once bound.</summary>
        public ReplicaStatus? Status { get; set; }

        public string? Node { get; set; }

        /// <summary>A binding of it is in flight: its commit, not the watch, settles what the snapshot counts for it.</summary>
        public bool Binding { get; set; }

        /// <summary>The newest revision the watch brought for it while its binding was in flight (0 for none).</summary>
        public long SeenWhileBinding { get; set; }

        public bool IsPending => Object is { Spec: { } spec }
            && string.IsNullOrEmpty(spec.Node)
            && spec.Desired == DesiredState.Run
            && Status?.Phase is null or Phase.Pending or Phase.Unspecified;

        public (long Ticks, string Id) Priority =>
            (Object?.Meta?.CreatedAt?.ToDateTimeOffset().UtcTicks ?? 0, Id);
    }

    private sealed class NodeRecord(string name)
    {
        public string Name { get; } = name;

        public long ModRevision { get; set; }

        public long StatusModRevision { get; set; }

        public Node? Object { get; set; }

        public NodeStatus? Status { get; set; }
    }

    /// <summary>Everything the loop knows, owned by the loop alone.</summary>
    private sealed class State
    {
        /// <summary>Templates shared, and requests worked out, for at most this many owner revisions at a time.</summary>
        private const int MaxTemplates = 4096;

        private readonly Dictionary<(string Owner, long Revision), ReplicaTemplate> _templates = [];
        private readonly Dictionary<ReplicaTemplate, PlacementRequest> _requests = new(ReferenceEqualityComparer.Instance);
        private long _requeuedAtRoom;

        /// <summary>Encodes the batches' bindings (one batch at a time).</summary>
        public BindingWriter Writer { get; } = new();

        public ClusterSnapshot Snapshot { get; } = new();

        public Dictionary<string, TrackedReplica> Replicas { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, NodeRecord> Nodes { get; } = new(StringComparer.Ordinal);

        public PriorityQueue<string, (long Ticks, string Id)> Queue { get; } = new(Comparer<(long Ticks, string Id)>.Create((a, b) => a.Ticks != b.Ticks ? a.Ticks.CompareTo(b.Ticks) : string.CompareOrdinal(a.Id, b.Id)));

        public HashSet<string> Queued { get; } = new(StringComparer.Ordinal);

        /// <summary>Where the next decision starts checking nodes (big clusters stop checking once enough fit).</summary>
        public int ScanStart { get; set; }

        /// <summary>Pending replicas nothing fit, waiting for room to grow.</summary>
        public HashSet<string> Unschedulable { get; } = new(StringComparer.Ordinal);

        /// <summary>The batches whose transactions are in flight, oldest first; no two touch the same node.</summary>
        public Queue<(Batch Batch, Task<TxnResult> Commit)> InFlight { get; } = new();

        /// <summary>Events of committed batches not yet handed to a write.</summary>
        public List<EventDraft> Events { get; } = [];

        public Task EventsWrite { get; set; } = Task.CompletedTask;

        /// <summary>
        /// Lets a pending replica share one template object with the other pending replicas of its
        /// owner revision when the templates are equal: the loop then holds one template per
        /// revision instead of one per replica, and works out its request and its JSON once.
        /// Shared templates are never changed (a binding writes a copy).
        /// </summary>
        public Replica ShareTemplate(Replica replica)
        {
            if (replica.Spec is not { Template: { } template } spec || !string.IsNullOrEmpty(spec.Node))
            {
                return replica;
            }

            var key = (ClusterSnapshot.OwnerKey(spec.Owner), spec.Revision);
            if (_templates.TryGetValue(key, out var shared) && (ReferenceEquals(shared, template) || shared.Equals(template)))
            {
                spec.Template = shared;
                return replica;
            }

            if (_templates.Count >= MaxTemplates)
            {
                _templates.Clear();
            }

            _templates[key] = template;
            return replica;
        }

        /// <summary>The placement request of a pending replica, worked out once per shared template.</summary>
        public PlacementRequest Request(string id, ReplicaSpec spec)
        {
            var owner = ClusterSnapshot.OwnerKey(spec.Owner);
            if (spec.Template is { } template && _requests.TryGetValue(template, out var same) && same.Owner == owner)
            {
                return same.For(id);
            }

            var request = new PlacementRequest(id, spec.Owner, spec.Template);
            if (spec.Template is not null)
            {
                if (_requests.Count >= MaxTemplates)
                {
                    _requests.Clear();
                }

                _requests[spec.Template] = request;
            }

            return request;
        }

        public TrackedReplica Replica(string id)
        {
            if (!Replicas.TryGetValue(id, out var replica))
            {
                Replicas[id] = replica = new TrackedReplica(id);
            }

            return replica;
        }

        public NodeRecord NodeRecord(string name)
        {
            if (!Nodes.TryGetValue(name, out var node))
            {
                Nodes[name] = node = new NodeRecord(name);
            }

            return node;
        }

        public void Enqueue(TrackedReplica replica)
        {
            if (Queued.Add(replica.Id))
            {
                Queue.Enqueue(replica.Id, replica.Priority);
            }
        }

        /// <summary>Recounts a replica after its spec or status changed, and queues it if it waits for a node.</summary>
        public void Refresh(TrackedReplica replica)
        {
            if (replica.Binding)
            {
                // The watch can bring the binding's own writes (or the status before the spec)
                // before its commit has returned: counting those now would take back the room
                // the binding holds. The commit's outcome settles it (FinishCommitAsync).
                return;
            }

            if (replica.Object is { Spec: { } spec })
            {
                replica.Node = string.IsNullOrEmpty(spec.Node) ? null : spec.Node;
                Snapshot.SetReplica(replica.Id, spec, replica.Status);
                if (replica.Node is not null)
                {
                    // Bound: the snapshot holds what it takes; the loop needs no more of it.
                    replica.Object = Compact(replica.Object, spec.Node, spec.HostPorts);
                    replica.Status = replica.Status is null ? null : new ReplicaStatus { Phase = replica.Status.Phase, NextRetryAt = replica.Status.NextRetryAt };
                    Unschedulable.Remove(replica.Id);
                }
                else if (replica.IsPending && !Unschedulable.Contains(replica.Id))
                {
                    Enqueue(replica);
                }
            }
        }

        /// <summary>What the loop keeps of a bound replica: enough to count it again when its status changes.</summary>
        public static Replica Compact(Replica replica, string node, IEnumerable<KeyValuePair<string, int>> hostPorts)
        {
            var spec = replica.Spec;
            var compact = new Replica
            {
                Spec = new ReplicaSpec
                {
                    Node = node,
                    Desired = spec.Desired,
                    Owner = spec.Owner,
                    Revision = spec.Revision,
                    Template = new ReplicaTemplate { Resources = spec.Template?.Resources },
                },
            };
            foreach (var (name, port) in hostPorts)
            {
                compact.Spec.HostPorts[name] = port;
            }

            return compact;
        }

        public void Refresh(NodeRecord node)
        {
            if (node.Object is null)
            {
                Snapshot.RemoveNode(node.Name);
                return;
            }

            Snapshot.SetNode(node.Name, node.Object.Info ?? new NodeInfo(), node.Object.Spec?.Cordoned ?? false, node.Status);
        }

        public void Forget(TrackedReplica replica)
        {
            Replicas.Remove(replica.Id);
            Unschedulable.Remove(replica.Id);
            Snapshot.RemoveReplica(replica.Id);
        }

        /// <summary>When room may have grown since the unschedulable replicas were last tried, queues them all again.</summary>
        public void RequeueIfRoomGrew()
        {
            if (Snapshot.RoomVersion == _requeuedAtRoom)
            {
                return;
            }

            _requeuedAtRoom = Snapshot.RoomVersion;
            foreach (var id in Unschedulable)
            {
                if (Replicas.TryGetValue(id, out var replica) && replica.IsPending)
                {
                    Enqueue(replica);
                }
            }

            Unschedulable.Clear();
        }
    }

    /// <summary>The writes of one binding transaction, kept within the store's limit on compares and operations.</summary>
    private sealed class Batch(int maxOps)
    {
        private readonly HashSet<string> _nodes = new(StringComparer.Ordinal);

        public List<(TrackedReplica Replica, PlacementDecision Decision, DateTimeOffset At)> Bindings { get; } = [];

        /// <summary>Each binding's stored replica and status as they were when it was decided: what its writes are made from, on another thread.</summary>
        private readonly List<(Replica Pending, ReplicaStatus? Status)> _decidedFrom = [];

        public List<(TrackedReplica Replica, PlacementDecision Decision, ReplicaStatus Status)> Unschedulables { get; } = [];

        private int _compares;
        private int _puts;

        /// <summary>Room for one more binding to a node not yet in the batch (2 compares + 2 puts, and 1 + 1 for the node).</summary>
        public bool HasRoom => _compares + 3 <= maxOps && _puts + 3 <= maxOps;

        public bool IsEmpty => Bindings.Count == 0 && Unschedulables.Count == 0;

        /// <summary>Whether both batches bind to one node (then the later one needs the allocation revision the earlier one's commit gives).</summary>
        public bool SharesNodeWith(Batch other) => _nodes.Overlaps(other._nodes);

        public void Bind(TrackedReplica replica, PlacementDecision decision, DateTimeOffset at)
        {
            Bindings.Add((replica, decision, at));
            _decidedFrom.Add((replica.Object!, replica.Status));
            _compares += 2;
            _puts += 2;
            if (_nodes.Add(decision.Node!))
            {
                _compares++;
                _puts++;
            }
        }

        public void MarkUnschedulable(TrackedReplica replica, PlacementDecision decision, DateTimeOffset at)
        {
            var status = replica.Status?.Clone() ?? new ReplicaStatus();
            if (status.Phase != Phase.Pending || status.LastTransitionAt is null)
            {
                status.LastTransitionAt = Timestamp.FromDateTimeOffset(at);
            }

            status.Phase = Phase.Pending;
            status.Reason = PlacementLoop.Unschedulable;
            status.Message = decision.Explanation.Message;
            status.Placement = decision.Explanation;
            Unschedulables.Add((replica, decision, status));
            _compares++;
            _puts++;
        }

        /// <summary>
        /// The replica writes of the batch: <paramref name="writer"/>'s bytes, or protobuf JSON for
        /// a replica it leaves to the full formatter (the same bytes either way). No revision is
        /// needed yet, so this runs on another thread while the previous commit is awaited; it
        /// reads only what <see cref="Bind"/> captured (objects the loop replaces, never changes).
        /// </summary>
        public List<TxnOp> EncodeReplicas(BindingWriter writer)
        {
            var thens = new List<TxnOp>(_puts);
            for (var i = 0; i < Bindings.Count; i++)
            {
                var (replica, decision, at) = Bindings[i];
                var (pending, current) = _decidedFrom[i];
                var timestamp = Timestamp.FromDateTimeOffset(at);
                var spec = writer.TryWrite(pending, decision.Node!, decision.HostPorts, timestamp)
                    ?? ProtoJson.Encode(BindingWriter.Bound(pending, decision.Node!, decision.HostPorts, timestamp));
                var status = writer.TryWriteScheduled(current, decision.Explanation, timestamp)
                    ?? ProtoJson.Encode(BindingWriter.Scheduled(current, decision.Explanation, timestamp));
                thens.Add(TxnOp.Put(StoreKeys.Replica(replica.Id), spec));
                thens.Add(TxnOp.Put(StoreKeys.ReplicaStatus(replica.Id), status));
            }

            foreach (var (replica, _, status) in Unschedulables)
            {
                thens.Add(TxnOp.Put(StoreKeys.ReplicaStatus(replica.Id), ProtoJson.Encode(status)));
            }

            return thens;
        }

        /// <summary>Every key the transaction compares.</summary>
        public IEnumerable<string> ComparedKeys() =>
            Bindings.SelectMany(b => new[] { StoreKeys.Replica(b.Replica.Id), StoreKeys.ReplicaStatus(b.Replica.Id) })
                .Concat(Unschedulables.Select(u => StoreKeys.ReplicaStatus(u.Replica.Id)))
                .Concat(_nodes.Select(StoreKeys.Allocation));

        /// <summary>The transaction: compares on every replica key and touched node's allocation key at the revisions known now, and the allocation writes.</summary>
        public (List<Compare> Ifs, List<TxnOp> Thens) Complete(ClusterSnapshot snapshot, List<TxnOp> thens)
        {
            var ifs = new List<Compare>(_compares);
            foreach (var (replica, _, _) in Bindings)
            {
                ifs.Add(Compare.ModRevision(StoreKeys.Replica(replica.Id), replica.SpecModRevision));
                ifs.Add(Compare.ModRevision(StoreKeys.ReplicaStatus(replica.Id), replica.StatusModRevision));
            }

            foreach (var (replica, _, _) in Unschedulables)
            {
                ifs.Add(Compare.ModRevision(StoreKeys.ReplicaStatus(replica.Id), replica.StatusModRevision));
            }

            foreach (var node in _nodes)
            {
                var last = Bindings.Last(b => b.Decision.Node == node);
                ifs.Add(Compare.ModRevision(StoreKeys.Allocation(node), snapshot.Node(node)?.AllocationRevision ?? 0));
                thens.Add(TxnOp.Put(StoreKeys.Allocation(node), Encoding.UTF8.GetBytes($"{{\"lastBinding\":\"{last.Replica.Id}\",\"at\":\"{last.At.UtcDateTime:O}\"}}")));
            }

            return (ifs, thens);
        }
    }
}

/// <summary>
/// Where the placement loop spent its time, cumulative: listing the cluster, folding watched
/// changes in, deciding, encoding bindings, and waiting for the store to commit them.
/// </summary>
public sealed class PlacementStats
{
    internal long Listing;
    internal long Applying;
    internal long Deciding;
    internal long Encoding;
    internal long WaitingForStore;

    public TimeSpan ListingTime => Ticks(Listing);

    public TimeSpan ApplyingTime => Ticks(Applying);

    public TimeSpan DecidingTime => Ticks(Deciding);

    public TimeSpan EncodingTime => Ticks(Encoding);

    public TimeSpan WaitingForStoreTime => Ticks(WaitingForStore);

    internal static void Add(ref long field, long started) => Interlocked.Add(ref field, Stopwatch.GetTimestamp() - started);

    private static TimeSpan Ticks(long stopwatchTicks) => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref stopwatchTicks));
}
