using System.Collections.Concurrent;
using Grpc.Core;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// The node streams open on this control plane, one per node name (the newest agent wins),
/// and the log requests waiting for an agent's <c>PushLogs</c>.
/// </summary>
public sealed class NodeSessionRegistry
{
    private readonly ConcurrentDictionary<string, NodeSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _endpointsAcks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PendingLogRequest> _logRequests = new(StringComparer.Ordinal);

    /// <summary>Makes <paramref name="session"/> the node's current stream; a previous one is closed with a message.</summary>
    public void Attach(NodeSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        NodeSession? previous = null;
        _sessions.AddOrUpdate(session.Node, session, (_, old) =>
        {
            previous = old;
            return session;
        });
        if (previous is not null && previous.Id != session.Id)
        {
            previous.Close(new Status(StatusCode.Aborted, $"node \"{session.Node}\" connected again on another stream, which replaces this one (the newest agent connection wins)"));
        }
    }

    /// <summary>Forgets <paramref name="session"/> if it is still the node's current stream; false when a newer one replaced it.</summary>
    public bool Detach(NodeSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return _sessions.TryRemove(new KeyValuePair<string, NodeSession>(session.Node, session));
    }

    /// <summary>Whether <paramref name="session"/> is the node's current stream.</summary>
    public bool IsCurrent(NodeSession session) =>
        _sessions.TryGetValue(session.Node, out var current) && current.Id == session.Id;

    /// <summary>The node's open stream on this control plane, if any.</summary>
    public NodeSession? Find(string node) => _sessions.GetValueOrDefault(node);

    /// <summary>How many nodes are connected to this control plane.</summary>
    public int Count => _sessions.Count;

    /// <summary>Names of the nodes connected to this control plane.</summary>
    public IReadOnlyCollection<string> ConnectedNodes => _sessions.Keys.ToList();

    /// <summary>
    /// The last endpoints version the node's proxy acknowledged (kept after a disconnect,
    /// until the node acknowledges again); null if it never did. The drain gate reads this.
    /// </summary>
    public long? EndpointsAck(string node) => _endpointsAcks.TryGetValue(node, out var v) ? v : null;

    internal void RecordEndpointsAck(NodeSession session, long version)
    {
        session.AckEndpoints(version);
        _endpointsAcks[session.Node] = session.EndpointsAck;
    }

    /// <summary>Registers a log request so the agent's <c>PushLogs</c> call can find where its chunks go.</summary>
    public void AddLogRequest(PendingLogRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!_logRequests.TryAdd(request.RequestId, request))
        {
            throw new InvalidOperationException($"log request {request.RequestId} is already registered");
        }
    }

    public PendingLogRequest? FindLogRequest(string requestId) => _logRequests.GetValueOrDefault(requestId);

    public void RemoveLogRequest(string requestId) => _logRequests.TryRemove(requestId, out _);
}

/// <summary>
/// One replica's part of a <c>Logs</c> call, waiting for the agent's chunks.
/// <see cref="Cancelled"/> fires when the caller went away: the agent's PushLogs call is then completed.
/// </summary>
public sealed class PendingLogRequest(string requestId, string replicaId, string node, Func<LogChunk, CancellationToken, ValueTask> deliver, CancellationToken cancelled)
{
    private readonly TaskCompletionSource<string?> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string RequestId { get; } = requestId;

    public string ReplicaId { get; } = replicaId;

    public string Node { get; } = node;

    public CancellationToken Cancelled { get; } = cancelled;

    /// <summary>Completes with null when the agent sent the end, or with the error it or the transport reported.</summary>
    public Task<string?> Done => _done.Task;

    /// <summary>Hands one chunk's data to the caller (waits while the caller's queue is full).</summary>
    public ValueTask DeliverAsync(LogChunk chunk, CancellationToken cancellationToken) => deliver(chunk, cancellationToken);

    public void Finish(string? error) => _done.TrySetResult(error);
}
