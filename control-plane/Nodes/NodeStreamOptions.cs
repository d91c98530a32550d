namespace Orchestrator.ControlPlane.Nodes;

/// <summary>Timing and limits of the node stream (docs/adr/0005-node-stream.md).</summary>
public sealed class NodeStreamOptions
{
    /// <summary>How often agents are asked to heartbeat (sent to them in <c>Registered</c>).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The TTL of a node's liveness lease: a node whose heartbeats stop for this long
    /// loses its liveness key and is marked NotReady.
    /// </summary>
    public TimeSpan NodeGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The shortest time between two writes of a node's <c>last_heartbeat</c>: heartbeats
    /// renew the lease every time but touch the node status at most this often.
    /// </summary>
    public TimeSpan HeartbeatStatusInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most <c>last_heartbeat</c> writes per second this control plane spends on all its nodes
    /// together. Liveness is the lease, so <c>last_heartbeat</c> is for people; with many nodes each
    /// one's is written less often (see <see cref="HeartbeatStatusIntervalFor"/>).
    /// </summary>
    public int HeartbeatStatusWritesPerSecond { get; set; } = 20;

    /// <summary>How many node registrations are written at once; the others wait their turn.</summary>
    public int ConcurrentRegistrations { get; set; } = 8;

    /// <summary>
    /// The shortest time between two <c>last_heartbeat</c> writes of one node when
    /// <paramref name="connectedNodes"/> are connected: <see cref="HeartbeatStatusInterval"/>, or longer
    /// so that all of them together stay within <see cref="HeartbeatStatusWritesPerSecond"/>.
    /// For example 5s for up to 100 nodes, 50s for 1,000, 250s for 5,000 (at 20 writes a second).
    /// </summary>
    public TimeSpan HeartbeatStatusIntervalFor(int connectedNodes)
    {
        var budget = HeartbeatStatusWritesPerSecond > 0 ? HeartbeatStatusWritesPerSecond : 1;
        var spread = TimeSpan.FromSeconds((double)Math.Max(0, connectedNodes) / budget);
        return spread > HeartbeatStatusInterval ? spread : HeartbeatStatusInterval;
    }

    /// <summary>
    /// Replicas of one agent whose latest report waits to be written (a newer report of a replica
    /// replaces its waiting one); beyond this the stream is closed and the agent reports afresh.
    /// </summary>
    public int PendingReportsCapacity { get; set; } = 10_000;

    /// <summary>
    /// How long the first endpoints ack waits for others before they are written together
    /// (<see cref="EndpointsAckWriter"/>): an endpoints change makes every node ack within a few
    /// milliseconds, and one transaction takes them all. Zero writes at once (still batching
    /// whatever arrives while a write is in flight).
    /// </summary>
    public TimeSpan EndpointsAckBatchWindow { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Wait before writing endpoints acks again after the store refused a batch.</summary>
    public TimeSpan EndpointsAckRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Messages waiting to be sent to one agent; a stream whose queue is full is closed and the agent resyncs.</summary>
    public int OutgoingQueueCapacity { get; set; } = 1024;
}
