using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// The node lifecycle controller (leader only, <see cref="ControllerOptions.Enabled"/>). Every
/// <see cref="NodeLifecycleOptions.CheckInterval"/> it lists the nodes and their liveness keys,
/// judges them with <see cref="NodeLifecyclePlanner"/>, and marks the replicas of a Lost node
/// Lost: a compare-and-swap on the replica's spec and status that also requires the node's
/// liveness key to be absent, so a node that came back in between keeps its replicas. It
/// records one event per replica and one per node, and keeps each draining node's progress in
/// its status.
/// <para>
/// Guards against false evictions: the first pass after a start, after a failed pass, or after
/// a gap in its own ticks of at least <see cref="NodeLifecycleOptions.PauseThreshold"/> (the
/// process or its VM was stopped) starts a fresh grace for every node; a mass silence marks nothing.
/// </para>
/// </summary>
public sealed partial class NodeLifecycleLoop(
    IStateStore store,
    ClusterObjects objects,
    NodeStatusWriter nodeStatus,
    NodeStreamOptions stream,
    NodeLifecycleOptions options,
    ControllerOptions controllers,
    ControlPlaneOptions controlPlane,
    EventRecorder events,
    TimeProvider time,
    ILogger<NodeLifecycleLoop> logger) : BackgroundService
{
    public const string Source = "node-lifecycle";

    private readonly Dictionary<string, DateTimeOffset> _silentSince = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reportedLost = new(StringComparer.Ordinal);

    // Lost nodes a pass found nothing left to mark on, and when: later passes do not list
    // replicas for them until a grace has passed (nothing is placed on a node that is not
    // Ready, but a binding decided just before it turned NotReady may still land).
    private readonly Dictionary<string, DateTimeOffset> _settled = new(StringComparer.Ordinal);
    private DateTimeOffset _judgingSince;
    private bool _restartJudging = true;
    private bool _massSilenceReported;
    private long _passes;
    private long _lost;

    /// <summary>Passes completed since the loop started (tests wait on it instead of on time).</summary>
    public long Passes => Interlocked.Read(ref _passes);

    /// <summary>Replicas this loop marked Lost.</summary>
    public long MarkedLost => Interlocked.Read(ref _lost);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!controllers.Enabled)
        {
            return;
        }

        // A new leadership term (or a restart) judges nobody before a fresh grace: what this
        // loop saw in an earlier term may be long stale.
        _restartJudging = true;
        _silentSince.Clear();
        _settled.Clear();

        using var timer = new PeriodicTimer(options.CheckInterval, time);
        var lastTick = time.GetTimestamp();
        try
        {
            do
            {
                var gap = time.GetElapsedTime(lastTick);
                lastTick = time.GetTimestamp();
                await TickAsync(gap, stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (ObjectDisposedException)
        {
            // The store closed: the host is stopping.
        }
    }

    /// <summary>
    /// One tick: <paramref name="sinceLastTick"/> is the time since the previous tick (the loop
    /// measures it on the <see cref="TimeProvider"/>; tests pass it). A gap that is a pause
    /// restarts judging; then every node is looked at once. Not reentrant: only the loop calls it,
    /// or a test while the loop does not run (<see cref="ControllerOptions.Enabled"/> false).
    /// </summary>
    public async Task TickAsync(TimeSpan sinceLastTick, CancellationToken cancellationToken)
    {
        if (NodeLifecyclePlanner.Pause(sinceLastTick, options) is { } paused && !_restartJudging)
        {
            LogPaused(logger, paused.TotalSeconds, options.CheckInterval.TotalSeconds, stream.NodeGrace.TotalSeconds);
            await events.RecordAsync(
                "controlplane",
                controlPlane.MemberId,
                EventType.Warning,
                "ControlPlanePaused",
                $"control plane {controlPlane.MemberId} did not run for {NodeLifecyclePlanner.Seconds(paused)} (it expects to every {NodeLifecyclePlanner.Seconds(options.CheckInterval)}; a long GC pause or a frozen VM?); every node gets a fresh {NodeLifecyclePlanner.Seconds(stream.NodeGrace)} grace before it is judged",
                Source,
                cancellationToken);
            _restartJudging = true;
        }

        try
        {
            await PassAsync(cancellationToken);
            Interlocked.Increment(ref _passes);
        }
        catch (Exception e) when (e is StateStoreException or ObjectException && !cancellationToken.IsCancellationRequested)
        {
            // Agents could not renew their leases while the store failed either: judge afresh.
            LogPassFailed(logger, e.Message);
            _restartJudging = true;
        }
    }

    /// <summary>One look at every node: judge, mark Lost, record drain progress.</summary>
    private async Task PassAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_restartJudging)
        {
            _judgingSince = now;
            _silentSince.Clear();
            _settled.Clear();
            _restartJudging = false;
        }

        var nodes = await objects.ListAsync(ObjectKindInfo.Node, cancellationToken: cancellationToken);
        var liveness = await store.ListAsync(StoreKeys.NodeLivenessPrefix, nodes.Revision, 0, cancellationToken);
        var live = liveness.Items.Select(kv => StoreKeys.NameOf(kv.Key, StoreKeys.NodeLivenessPrefix)).ToHashSet(StringComparer.Ordinal);
        var observations = new List<NodeObservation>(nodes.Items.Count);
        var registered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var obj in nodes.Items)
        {
            var node = obj.Node;
            var name = node.Meta.Name;
            registered.Add(name);
            if (live.Contains(name))
            {
                _silentSince.Remove(name);
                _reportedLost.Remove(name);
                _settled.Remove(name);
                observations.Add(new NodeObservation(name, true, null));
                continue;
            }

            if (!_silentSince.TryGetValue(name, out var since))
            {
                since = now;
                _silentSince[name] = since;
            }

            var disconnected = node.Status is { State: NodeState.NotReady, Reason: "AgentDisconnected" };
            observations.Add(new NodeObservation(
                name,
                false,
                since,
                disconnected ? Silence.Disconnected : Silence.LeaseExpired,
                disconnected ? node.Status!.LastHeartbeat?.ToDateTimeOffset() : null));
        }

        _silentSince.Keys.Where(n => !registered.Contains(n)).ToList().ForEach(n => _silentSince.Remove(n));
        _reportedLost.RemoveWhere(n => !registered.Contains(n));
        _settled.Keys.Where(n => !registered.Contains(n)).ToList().ForEach(n => _settled.Remove(n));

        var decision = NodeLifecyclePlanner.Judge(observations, now, new ControlPlaneView(_judgingSince, stream.NodeGrace), options);
        await ReportMassSilenceAsync(decision, cancellationToken);

        var nodeList = nodes.Items.Select(o => o.Node).ToList();

        // A lost node is NotReady in the store before any of its replicas is Lost: the scheduler
        // (which follows the store in revision order) then never places their replacements on it.
        // The liveness watcher usually got there first; if not, this writes what it would.
        foreach (var lost in decision.Lost)
        {
            if (nodeList.FirstOrDefault(n => n.Meta.Name == lost.Node)?.Status?.State == NodeState.Ready)
            {
                await nodeStatus.MarkHeartbeatsStoppedAsync(lost.Node, stream.NodeGrace, cancellationToken);
            }
        }

        var needsReplicas = decision.Lost.Any(n => !_settled.TryGetValue(n.Node, out var settledAt) || now - settledAt >= stream.NodeGrace)
            || nodeList.Any(n => n.Spec?.Draining == true || n.Status?.DrainCompletedAt is not null || n.Status?.DrainRemaining > 0);
        if (!needsReplicas)
        {
            return;
        }

        var replicas = (await objects.ListAsync(ObjectKindInfo.Replica, cancellationToken: cancellationToken)).Items.Select(o => o.Replica).ToList();
        var marks = NodeLifecyclePlanner.Evictions(decision, replicas);
        var marked = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var mark in marks)
        {
            if (await MarkLostAsync(mark, cancellationToken))
            {
                Interlocked.Increment(ref _lost);
                (marked.TryGetValue(mark.Node, out var list) ? list : marked[mark.Node] = []).Add(mark.Id);
            }
        }

        foreach (var lost in decision.Lost)
        {
            if (!marks.Any(m => m.Node == lost.Node))
            {
                _settled[lost.Node] = now;
            }
            else
            {
                _settled.Remove(lost.Node);
            }

            var ids = marked.GetValueOrDefault(lost.Node) ?? [];
            if (_reportedLost.Add(lost.Node) || ids.Count > 0)
            {
                var what = ids.Count == 0
                    ? "no replica was running on it"
                    : $"{ids.Count} replica{(ids.Count == 1 ? "" : "s")} marked Lost: {string.Join(", ", ids.Take(10))}{(ids.Count > 10 ? ", ..." : "")}";
                LogNodeLost(logger, lost.Node, lost.SilentFor.TotalSeconds, ids.Count);
                await events.RecordAsync("node", lost.Node, EventType.Warning, NodeLifecyclePlanner.LostReason, $"{lost.Message}; {what}", Source, cancellationToken);
            }
        }

        await RecordDrainsAsync(nodeList, replicas, cancellationToken);
    }

    private async Task ReportMassSilenceAsync(NodeLifecycleDecision decision, CancellationToken cancellationToken)
    {
        if (decision.MassSilence is { } why && !_massSilenceReported)
        {
            _massSilenceReported = true;
            LogMassSilence(logger, why);
            await events.RecordAsync("controlplane", controlPlane.MemberId, EventType.Warning, "EvictionsHeld", why, Source, cancellationToken);
        }
        else if (decision.MassSilence is null && _massSilenceReported && !decision.Verdicts.Any(v => v is NodeSpared))
        {
            _massSilenceReported = false;
            LogMassSilenceOver(logger);
            await events.RecordAsync("controlplane", controlPlane.MemberId, EventType.Normal, "EvictionsResumed", "most nodes are heard from again; silent nodes are judged one by one again", Source, cancellationToken);
        }
    }

    /// <summary>
    /// Writes phase Lost into the replica's status, provided its spec still binds it to the node,
    /// it has not ended, and the node still has no liveness key (all in one transaction).
    /// </summary>
    private async Task<bool> MarkLostAsync(MarkReplicaLost mark, CancellationToken cancellationToken)
    {
        var specKey = StoreKeys.Replica(mark.Id);
        var statusKey = StoreKeys.ReplicaStatus(mark.Id);
        for (var attempt = 1; attempt <= NodeStatusWriter.MaxAttempts; attempt++)
        {
            var spec = await store.GetAsync(specKey, 0, cancellationToken);
            if (spec.Kv is null || ProtoJson.Decode<Replica>(spec.Kv.Value, specKey).Spec?.Node != mark.Node)
            {
                return false;
            }

            var current = await store.GetAsync(statusKey, spec.Revision, cancellationToken);
            var status = current.Kv is null ? new ReplicaStatus() : ProtoJson.Decode<ReplicaStatus>(current.Kv.Value, statusKey);
            if (NodeStatusWriter.IsFinal(status))
            {
                return false;
            }

            var now = Timestamp.FromDateTimeOffset(time.GetUtcNow());
            status.Phase = Phase.Lost;
            status.Reason = NodeLifecyclePlanner.LostReason;
            status.Message = mark.Message;
            status.Endpoints.Clear();
            status.NextRetryAt = null;
            status.FinishedAt = now;
            status.LastTransitionAt = now;
            var result = await store.TxnAsync(
                new Txn(
                    [Compare.ModRevision(specKey, spec.Kv.ModRevision), Compare.ModRevision(statusKey, current.Kv?.ModRevision ?? 0), Compare.Absent(StoreKeys.NodeLiveness(mark.Node))],
                    [TxnOp.Put(statusKey, ProtoJson.Encode(status))],
                    []),
                cancellationToken);
            if (result.Succeeded)
            {
                await events.RecordAsync("replica", mark.Id, EventType.Warning, NodeLifecyclePlanner.LostReason, mark.Message, Source, cancellationToken);
                return true;
            }

            if ((await store.GetAsync(StoreKeys.NodeLiveness(mark.Node), 0, cancellationToken)).Kv is not null)
            {
                // The node came back between the judgement and the write: it keeps its replicas.
                return false;
            }
        }

        return false;
    }

    private async Task RecordDrainsAsync(IReadOnlyList<Node> nodes, IReadOnlyList<Replica> replicas, CancellationToken cancellationToken)
    {
        var progress = NodeLifecyclePlanner.Drains(nodes, replicas).ToDictionary(p => p.Node, StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            var name = node.Meta.Name;
            var status = node.Status ?? new NodeStatus();
            var remaining = progress.TryGetValue(name, out var p) ? p.Remaining : 0;
            var draining = p is not null;
            var completed = draining && remaining == 0 ? status.DrainCompletedAt ?? Timestamp.FromDateTimeOffset(time.GetUtcNow()) : null;
            if (status.DrainRemaining == remaining && Equals(status.DrainCompletedAt, completed))
            {
                continue;
            }

            if (await UpdateDrainAsync(name, remaining, completed, cancellationToken) && completed is not null && status.DrainCompletedAt is null)
            {
                await events.RecordAsync("node", name, EventType.Normal, "Drained", $"node {name} is drained: no replica is left on it (orc node uncordon {name} to use it again)", Source, cancellationToken);
            }
        }
    }

    private async Task<bool> UpdateDrainAsync(string name, int remaining, Timestamp? completed, CancellationToken cancellationToken)
    {
        var key = StoreKeys.NodeStatus(name);
        var current = await store.GetAsync(key, 0, cancellationToken);
        if (current.Kv is null)
        {
            return false;
        }

        var status = ProtoJson.Decode<NodeStatus>(current.Kv.Value, key);
        status.DrainRemaining = remaining;
        status.DrainCompletedAt = completed;
        var result = await store.TxnAsync(new Txn([Compare.ModRevision(key, current.Kv.ModRevision)], [TxnOp.Put(key, ProtoJson.Encode(status))], []), cancellationToken);

        // Lost to a heartbeat or registration write: the next pass writes it again.
        return result.Succeeded;
    }

    [LoggerMessage(EventId = 1320, Level = LogLevel.Warning, Message = "Node {Node} is lost: no heartbeat for {Seconds:0.0}s; marked {Count} replica(s) Lost")]
    private static partial void LogNodeLost(ILogger logger, string node, double seconds, int count);

    [LoggerMessage(EventId = 1321, Level = LogLevel.Warning, Message = "Holding back evictions: {Why}")]
    private static partial void LogMassSilence(ILogger logger, string why);

    [LoggerMessage(EventId = 1322, Level = LogLevel.Information, Message = "Most nodes are heard from again; evictions resume")]
    private static partial void LogMassSilenceOver(ILogger logger);

    [LoggerMessage(EventId = 1323, Level = LogLevel.Warning, Message = "This control plane did not run for {Seconds:0.0}s (expected every {Interval:0.0}s): a pause; every node gets a fresh {Grace:0.0}s grace")]
    private static partial void LogPaused(ILogger logger, double seconds, double interval, double grace);

    [LoggerMessage(EventId = 1324, Level = LogLevel.Warning, Message = "Node lifecycle pass failed ({Reason}); judging afresh on the next pass")]
    private static partial void LogPassFailed(ILogger logger, string reason);
}
