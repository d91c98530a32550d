using System.Globalization;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>How a node without a liveness key went silent, as far as its status tells.</summary>
public enum Silence
{
    /// <summary>Its lease expired: no heartbeat renewed it for the grace, so heartbeats stopped a grace before it was seen gone.</summary>
    LeaseExpired,

    /// <summary>Its stream ended (the agent stopped, or its connection broke): heartbeats stopped when it was seen gone.</summary>
    Disconnected,
}

/// <summary>
/// One registered node as the controller sees it: whether its liveness key exists, and when
/// this control plane first saw it without one (null while it is live).
/// </summary>
/// <remarks>
/// <paramref name="LastHeartbeat"/>: for a node whose stream ended, the last heartbeat heard on
/// that stream, as the control plane that held it recorded it; its grace counts from there.
/// </remarks>
public sealed record NodeObservation(string Name, bool Live, DateTimeOffset? SilentSince, Silence Silence = Silence.LeaseExpired, DateTimeOffset? LastHeartbeat = null);

/// <summary>
/// What the controller knows of itself: it judges silence only from <see cref="JudgingSince"/>
/// (when it started or took over, or when it resumed after a pause), so every node has had a
/// full grace under its eyes before it is judged.
/// </summary>
public sealed record ControlPlaneView(DateTimeOffset JudgingSince, TimeSpan Grace);

/// <summary>The controller's verdict on one node.</summary>
public abstract record NodeVerdict(string Node);

/// <summary>The node holds a liveness key: heartbeats arrive.</summary>
public sealed record NodeAlive(string Node) : NodeVerdict(Node);

/// <summary>Silent, but not for a full grace under this control plane's eyes yet: look again at <paramref name="DueAt"/>.</summary>
public sealed record NodeSilent(string Node, DateTimeOffset DueAt) : NodeVerdict(Node);

/// <summary>Silent for the grace: its replicas are Lost. <paramref name="Message"/> says so in plain words.</summary>
public sealed record NodeLost(string Node, TimeSpan SilentFor, string Message) : NodeVerdict(Node);

/// <summary>Silent for the grace, but so are most nodes: nothing is marked Lost (<see cref="NodeLifecycleDecision.MassSilence"/> says why).</summary>
public sealed record NodeSpared(string Node, TimeSpan SilentFor) : NodeVerdict(Node);

/// <summary>The verdicts, the mass-silence explanation when evictions are held back, and when to look again at the latest.</summary>
public sealed record NodeLifecycleDecision(IReadOnlyList<NodeVerdict> Verdicts, string? MassSilence, DateTimeOffset? NextCheckAt)
{
    public IEnumerable<NodeLost> Lost => Verdicts.OfType<NodeLost>();
}

/// <summary>Mark replica <paramref name="Id"/> (on <paramref name="Node"/>) Lost, with <paramref name="Message"/> as its status message.</summary>
public sealed record MarkReplicaLost(string Id, string Node, string Message);

/// <summary>A draining node's progress: replicas bound to it that have not ended, and which.</summary>
public sealed record DrainProgress(string Node, int Remaining, IReadOnlyList<string> Replicas);

/// <summary>
/// The node lifecycle controller's decisions, pure functions of the nodes, their liveness, the
/// control plane's own view and the time: tests call them directly, <see cref="NodeLifecycleLoop"/>
/// applies them with compare-and-swap writes.
/// <para>
/// A node is judged from the moment its heartbeats stopped. Its liveness lease has a TTL of
/// the grace and is renewed by every heartbeat, so a node whose lease expired stopped a grace
/// before it was seen without its key; a node whose stream ended stopped at the last heartbeat
/// heard on that stream (<see cref="StoppedAt"/>), or when it was seen if none is recorded.
/// It is Lost once a full grace has passed since it stopped <em>and</em> since the control plane
/// began judging. Worked example, grace 3s, the control plane judging since 10:00:00:
/// node-2's lease expires and is seen gone at 10:05:00 (last heartbeat about 10:04:57): Lost at
/// once, "stopped sending heartbeats 3s ago". node-3's agent closes its stream at 10:05:00, its
/// last heartbeat heard at 10:04:59.4: Lost at 10:05:02.4 unless it reconnects. The control plane restarts at 10:06:00 and finds
/// node-4 without a key: Lost at 10:06:03, not before, whatever its old status says.
/// </para>
/// <para>
/// Guard: when more than <see cref="NodeLifecycleOptions.MassSilenceFraction"/> of the nodes
/// (and at least <see cref="NodeLifecycleOptions.MassSilenceMinNodes"/>) are silent at once,
/// the likelier cause is the control plane or its network, so nothing is marked Lost.
/// </para>
/// </summary>
public static class NodeLifecyclePlanner
{
    public const string LostReason = "NodeLost";

    /// <summary>Judges every node.</summary>
    public static NodeLifecycleDecision Judge(IReadOnlyList<NodeObservation> nodes, DateTimeOffset now, ControlPlaneView controlPlane, NodeLifecycleOptions options)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(controlPlane);
        ArgumentNullException.ThrowIfNull(options);
        var grace = controlPlane.Grace;
        var verdicts = new List<NodeVerdict>(nodes.Count);
        var due = new List<(string Node, TimeSpan SilentFor)>();
        DateTimeOffset? next = null;
        foreach (var node in nodes.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            if (node.Live)
            {
                verdicts.Add(new NodeAlive(node.Name));
                continue;
            }

            var seen = node.SilentSince ?? now;
            var stoppedAt = node.Silence == Silence.LeaseExpired ? seen - grace : StoppedAt(node.LastHeartbeat, seen, grace);
            var dueAt = Max(stoppedAt + grace, controlPlane.JudgingSince + grace);
            if (now < dueAt)
            {
                verdicts.Add(new NodeSilent(node.Name, dueAt));
                next = next is { } n && n <= dueAt ? n : dueAt;
                continue;
            }

            due.Add((node.Name, now - stoppedAt));
        }

        var silent = nodes.Count(n => !n.Live);
        string? massSilence = null;
        if (due.Count > 0 && silent >= options.MassSilenceMinNodes && silent > options.MassSilenceFraction * nodes.Count)
        {
            massSilence = string.Create(
                CultureInfo.InvariantCulture,
                $"{silent} of {nodes.Count} nodes are silent at once ({string.Join(", ", nodes.Where(n => !n.Live).Select(n => n.Name).Order(StringComparer.Ordinal).Take(5))}{(silent > 5 ? ", ..." : "")}): " +
                $"more than {options.MassSilenceFraction * 100:0.#}% of the cluster, which points at this control plane or its network rather than at the nodes; no replica is marked Lost while that lasts");
        }

        foreach (var (name, silentFor) in due)
        {
            verdicts.Add(massSilence is null
                ? new NodeLost(name, silentFor, $"node {name} stopped sending heartbeats {Seconds(silentFor)} ago (grace {Seconds(grace)})")
                : new NodeSpared(name, silentFor));
        }

        verdicts.Sort((a, b) => string.CompareOrdinal(a.Node, b.Node));
        return new NodeLifecycleDecision(verdicts, massSilence, next);
    }

    /// <summary>
    /// The replicas to mark Lost: every replica bound to a Lost node that has not ended yet
    /// (whatever its desired state: a replica being stopped on a dead node will never say it stopped).
    /// </summary>
    public static IReadOnlyList<MarkReplicaLost> Evictions(NodeLifecycleDecision decision, IEnumerable<Replica> replicas)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(replicas);
        var lost = decision.Lost.ToDictionary(n => n.Node, StringComparer.Ordinal);
        if (lost.Count == 0)
        {
            return [];
        }

        var marks = new List<MarkReplicaLost>();
        foreach (var replica in replicas.OrderBy(r => r.Meta?.Name, StringComparer.Ordinal))
        {
            if (replica.Spec?.Node is { Length: > 0 } node && lost.TryGetValue(node, out var verdict) && !NodeStatusWriter.IsFinal(replica.Status))
            {
                marks.Add(new MarkReplicaLost(replica.Meta.Name, node, $"{verdict.Message}; the replica is presumed gone with it"));
            }
        }

        return marks;
    }

    /// <summary>Progress of every draining node: the replicas bound to it that have not ended.</summary>
    public static IReadOnlyList<DrainProgress> Drains(IEnumerable<Node> nodes, IEnumerable<Replica> replicas)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(replicas);
        var draining = nodes.Where(n => n.Spec?.Draining == true).Select(n => n.Meta.Name).ToHashSet(StringComparer.Ordinal);
        if (draining.Count == 0)
        {
            return [];
        }

        var left = draining.ToDictionary(n => n, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var replica in replicas)
        {
            if (replica.Spec?.Node is { Length: > 0 } node && left.TryGetValue(node, out var list) && !NodeStatusWriter.IsFinal(replica.Status))
            {
                list.Add(replica.Meta.Name);
            }
        }

        return left.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new DrainProgress(kv.Key, kv.Value.Count, kv.Value.Order(StringComparer.Ordinal).ToList()))
            .ToList();
    }

    /// <summary>
    /// The time the control plane was stopped between two of its ticks beyond the expected
    /// interval, when that gap is at least <see cref="NodeLifecycleOptions.PauseThreshold"/>; otherwise null.
    /// </summary>
    /// <summary>
    /// When a node whose stream ended stopped: its last heartbeat on that stream, kept between a
    /// grace before it was seen gone (as for an expired lease; also bounds a clock skew between
    /// control planes) and the moment it was seen gone (a heartbeat "later" than that is skew).
    /// Without a recorded heartbeat: when it was seen gone.
    /// </summary>
    public static DateTimeOffset StoppedAt(DateTimeOffset? lastHeartbeat, DateTimeOffset seen, TimeSpan grace) =>
        lastHeartbeat is { } heard ? Max(seen - grace, heard < seen ? heard : seen) : seen;

    public static TimeSpan? Pause(TimeSpan sinceLastTick, NodeLifecycleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return sinceLastTick >= options.CheckInterval + options.PauseThreshold ? sinceLastTick : null;
    }

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s";

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;
}
