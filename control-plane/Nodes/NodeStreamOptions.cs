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

    /// <summary>Messages waiting to be sent to one agent; a stream whose queue is full is closed and the agent resyncs.</summary>
    public int OutgoingQueueCapacity { get; set; } = 1024;
}
