using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary>
/// Serves <c>Cluster.Logs</c>: resolves the target to replicas and their nodes, asks each
/// node's agent for the replica's log with a <c>LogRequest</c> on its node stream, and relays
/// the chunks the agent pushes back (<c>NodeApi.PushLogs</c>, matched by request id) to the
/// caller. When the caller goes away the agent's PushLogs call is completed, which tells it to stop.
/// </summary>
public sealed partial class LogsRelay(ClusterObjects objects, NodeSessionRegistry registry, ILogger<LogsRelay> logger)
{
    /// <summary>Lines buffered for one caller; a slow caller slows the agents (backpressure), it never grows memory.</summary>
    public const int BufferedLines = 256;

    /// <exception cref="RpcException">NotFound (no such replica), Unavailable (its node is not connected), FailedPrecondition (not scheduled, or the agent could not read the log).</exception>
    /// <exception cref="ObjectNotFoundException">The replica does not exist.</exception>
    public async Task StreamAsync(LogsRequest request, IServerStreamWriter<LogLine> responses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responses);
        var targets = await ResolveAsync(request.Target, cancellationToken);
        var sessions = new List<(Replica Replica, NodeSession Session)>();
        foreach (var replica in targets)
        {
            var node = replica.Spec.Node;
            var session = registry.Find(node)
                ?? throw new RpcException(new Status(StatusCode.Unavailable, $"node \"{node}\" is not connected; logs are read from the node that ran the replica"));
            sessions.Add((replica, session));
        }

        var lines = Channel.CreateBounded<LogLine>(new BoundedChannelOptions(BufferedLines) { SingleReader = true });
        using var call = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var parts = new List<PendingLogRequest>();
        var registrations = new List<CancellationTokenRegistration>();
        try
        {
            foreach (var (replica, session) in sessions)
            {
                var id = replica.Meta.Name;
                var pending = new PendingLogRequest(
                    Guid.NewGuid().ToString("N"),
                    id,
                    session.Node,
                    (chunk, token) => lines.Writer.WriteAsync(new LogLine { Replica = id, Data = chunk.Data, Stderr = chunk.Stderr }, token),
                    call.Token);
                registry.AddLogRequest(pending);
                parts.Add(pending);
                registrations.Add(session.Closed.Register(() => pending.Finish($"node \"{session.Node}\" disconnected while the logs of {id} were being read; try again when it is back")));
                var sent = session.TrySend(new ControlMessage
                {
                    Logs = new LogRequest { RequestId = pending.RequestId, ReplicaId = id, Follow = request.Follow, TailLines = request.TailLines },
                });
                if (!sent)
                {
                    pending.Finish($"node \"{session.Node}\" is not connected; logs are read from the node that ran the replica");
                }

                LogRequested(logger, id, session.Node, pending.RequestId, request.Follow);
            }

            _ = CompleteWhenDoneAsync(parts, lines.Writer);
            await foreach (var line in lines.Reader.ReadAllAsync(cancellationToken))
            {
                await responses.WriteAsync(line, cancellationToken);
            }

            var errors = parts.Select(p => p.Done.Result).OfType<string>().ToList();
            if (errors.Count > 0)
            {
                var unavailable = errors.All(e => e.Contains("not connected", StringComparison.Ordinal) || e.Contains("disconnected", StringComparison.Ordinal));
                throw new RpcException(new Status(unavailable ? StatusCode.Unavailable : StatusCode.FailedPrecondition, string.Join("\n", errors)));
            }
        }
        finally
        {
            await call.CancelAsync();
            foreach (var registration in registrations)
            {
                await registration.DisposeAsync();
            }

            foreach (var part in parts)
            {
                registry.RemoveLogRequest(part.RequestId);
                part.Finish("the caller stopped reading");
            }
        }
    }

    /// <summary>
    /// Serves one <c>PushLogs</c> call: every chunk goes to the waiting <c>Logs</c> call with
    /// the same request id. The call is completed when the agent sends the end (or an error),
    /// or as soon as nobody waits any more.
    /// </summary>
    public async Task<PushLogsResponse> ReceiveAsync(IAsyncStreamReader<LogChunk> chunks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        if (!await chunks.MoveNext(cancellationToken))
        {
            return new PushLogsResponse();
        }

        var chunk = chunks.Current;
        var pending = registry.FindLogRequest(chunk.RequestId);
        if (pending is null)
        {
            // The caller went away (or never existed): completing the call tells the agent to stop.
            LogNoWaiter(logger, chunk.RequestId);
            return new PushLogsResponse();
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, pending.Cancelled);
        try
        {
            while (true)
            {
                if (chunk.RequestId != pending.RequestId)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"PushLogs carries request {pending.RequestId}, but a chunk names request \"{chunk.RequestId}\"; open one PushLogs call per log request"));
                }

                if (!chunk.Data.IsEmpty)
                {
                    await pending.DeliverAsync(chunk, linked.Token);
                }

                if (!string.IsNullOrEmpty(chunk.Error))
                {
                    pending.Finish($"node \"{pending.Node}\" could not read the logs of {pending.ReplicaId}: {chunk.Error}");
                    return new PushLogsResponse();
                }

                if (chunk.End)
                {
                    pending.Finish(null);
                    return new PushLogsResponse();
                }

                if (!await chunks.MoveNext(linked.Token))
                {
                    pending.Finish($"node \"{pending.Node}\" ended the logs of {pending.ReplicaId} without an end marker; try again");
                    return new PushLogsResponse();
                }

                chunk = chunks.Current;
            }
        }
        catch (OperationCanceledException) when (pending.Cancelled.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // The caller cancelled: send nothing more and complete the agent's call so it stops following.
            return new PushLogsResponse();
        }
        finally
        {
            pending.Finish($"node \"{pending.Node}\" stopped sending the logs of {pending.ReplicaId} before their end; try again");
        }
    }

    private async Task<IReadOnlyList<Replica>> ResolveAsync(string target, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(target))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the logs target is missing; give a replica id, or service/NAME or job/NAME for all of its replicas"));
        }

        if (!target.Contains('/', StringComparison.Ordinal))
        {
            var (obj, _) = await objects.GetAsync(ObjectKindInfo.Replica, target, cancellationToken);
            obj.Replica.Meta ??= new ObjectMeta();
            obj.Replica.Meta.Name = target;
            if (string.IsNullOrEmpty(obj.Replica.Spec?.Node))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"replica {target} is not scheduled on a node yet, so it has no logs; see `orc explain replica {target}`"));
            }

            return [obj.Replica];
        }

        var owner = ClusterObjects.ParseOwner(target)!;
        var list = await objects.ListAsync(ObjectKindInfo.Replica, owner, cancellationToken: cancellationToken);
        if (list.Items.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"{owner} has no replicas; check the name with `orc get {owner.Split('/')[0]}s`"));
        }

        var placed = list.Items.Select(o => o.Replica).Where(r => !string.IsNullOrEmpty(r.Spec?.Node)).ToList();
        if (placed.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"none of the {list.Items.Count} replica(s) of {owner} is scheduled on a node yet, so there are no logs"));
        }

        return placed;
    }

    private static async Task CompleteWhenDoneAsync(List<PendingLogRequest> parts, ChannelWriter<LogLine> writer)
    {
        await Task.WhenAll(parts.Select(p => p.Done));
        writer.TryComplete();
    }

    [LoggerMessage(EventId = 3040, Level = LogLevel.Debug, Message = "Asked node {Node} for the logs of {Replica} (request {RequestId}, follow {Follow})")]
    private static partial void LogRequested(ILogger logger, string replica, string node, string requestId, bool follow);

    [LoggerMessage(EventId = 3041, Level = LogLevel.Debug, Message = "PushLogs for request {RequestId}, which nobody waits for; completing it")]
    private static partial void LogNoWaiter(ILogger logger, string requestId);
}
