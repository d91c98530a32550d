using Grpc.Core;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// Runs one agent's node stream (docs/adr/0005-node-stream.md): checks the registration,
/// writes the node, its status and its leased liveness key, sends <c>Registered</c>, the full
/// assignment set and then watch-driven deltas; renews the lease on every heartbeat; writes
/// the agent's replica reports; and on the stream's end marks the node NotReady and revokes the lease.
/// </summary>
public sealed partial class NodeConnection(
    IStateStore store,
    NodeSessionRegistry registry,
    NodeStatusWriter nodes,
    ReplicaReportWriter reports,
    AssignmentFeed assignments,
    EndpointsFeed endpoints,
    EndpointsAckWriter endpointsAcks,
    NodeStreamOptions streamOptions,
    NodeRegistrationAdmission admission,
    ControlPlaneOptions options,
    TimeProvider time,
    ILogger<NodeConnection> logger)
{
    /// <summary>Serves one <c>Connect</c> call until the agent goes away or the stream is closed.</summary>
    /// <exception cref="RpcException">The stream ends with an error status (bad registration, malformed message, replaced, ...).</exception>
    public async Task RunAsync(IAsyncStreamReader<AgentMessage> requests, IServerStreamWriter<ControlMessage> responses, CancellationToken callCancelled, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(responses);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callCancelled, stopping);
        var first = await requests.MoveNext(linked.Token) ? requests.Current : null;
        if (NodeRegistration.Validate(first) is { } invalid)
        {
            LogRejected(logger, first?.Register?.NodeName ?? "", invalid.Detail);
            throw new RpcException(invalid);
        }

        var register = first!.Register;
        var name = register.NodeName;
        using var session = new NodeSession(name, streamOptions.OutgoingQueueCapacity);
        registry.Attach(session);
        using var running = CancellationTokenSource.CreateLinkedTokenSource(linked.Token, session.Closed);
        var registered = false;
        AssignmentSubscription? subscription = null;
        EndpointsSubscription? endpointsSubscription = null;
        try
        {
            // A few registrations at a time: thousands of agents connecting at once (a control
            // plane restart, a fleet of simulated nodes) otherwise share the store between them
            // so thinly that each one's writes take longer than its lease lives.
            await admission.WaitAsync(running.Token);
            try
            {
                await nodes.RegisterAsync(
                    name,
                    register.Info,
                    options.MemberId,
                    async ct =>
                    {
                        var lease = await store.GrantLeaseAsync(streamOptions.NodeGrace, ct);
                        session.LeaseId = lease.Id;
                        session.LastHeartbeatAt = time.GetUtcNow();
                        return lease.Id;
                    },
                    running.Token);
                registered = true;
                LogRegistered(logger, name, register.Info.Address, register.Running.Count);

                session.TrySend(new ControlMessage
                {
                    Registered = new Registered
                    {
                        ProtocolVersion = NodeProtocolVersion._1,
                        ControlPlaneId = options.MemberId,
                        HeartbeatIntervalMs = (long)streamOptions.HeartbeatInterval.TotalMilliseconds,
                    },
                });

                // What the agent runs now becomes status first, so a restarted control plane learns it;
                // anything not assigned is absent from the full set below, which tells the agent to stop it.
                foreach (var report in register.Running)
                {
                    await ApplyReportAsync(session, report, answerUnassigned: false, running.Token);
                }

                subscription = await assignments.SubscribeAsync(name, running.Token);
                session.TrySend(new ControlMessage { Assignments = subscription.Set });

                // Every service's endpoints, then their changes (docs/adr/0020-endpoints.md).
                endpointsSubscription = await endpoints.SubscribeAsync(running.Token);
                session.TrySend(new ControlMessage { Endpoints = endpointsSubscription.Full });
            }
            finally
            {
                admission.Release();
            }

            var writer = WriteAsync(session, responses, running.Token);
            var deltas = FollowAssignmentsAsync(session, subscription, running.Token);
            var endpointUpdates = FollowEndpointsAsync(session, endpointsSubscription, running.Token);
            using var reports = new PendingReports(streamOptions.PendingReportsCapacity);
            var reportWriter = WriteReportsAsync(session, reports, running.Token);
            var reader = ReadAsync(session, requests, reports, running.Token);
            await Task.WhenAny(writer, deltas, endpointUpdates, reader, reportWriter);
            if (reader.IsCompletedSuccessfully)
            {
                // The agent ended its stream: what it reported before that is still written (bounded).
                reports.Complete();
                await Task.WhenAny(reportWriter, Task.Delay(TimeSpan.FromSeconds(10), time, running.Token));
            }

            if (reader.IsCompletedSuccessfully && !session.Closed.IsCancellationRequested)
            {
                LogStreamEnded(logger, name);
            }

            // Whichever ended first decides; the others stop with the session.
            await running.CancelAsync();
            await Task.WhenAll(Quiet(writer), Quiet(deltas), Quiet(endpointUpdates), Quiet(reader), Quiet(reportWriter));

            // An agent that stops or restarts cancels its call: that is the agent going away, as a
            // clean end is, not an error of ours. (A reset that shows as an IOException is below.)
            if (callCancelled.IsCancellationRequested && !stopping.IsCancellationRequested && session.CloseStatus is null)
            {
                LogStreamEnded(logger, name);
                return;
            }

            foreach (var task in new[] { reader, reportWriter, deltas, endpointUpdates, writer })
            {
                if (task.Exception?.InnerException is IOException broken)
                {
                    // The agent reset its call or its connection dropped (an agent that stops does
                    // that): the agent went away, nothing failed here, and nobody reads a status.
                    LogStreamBroken(logger, name, broken.Message);
                    return;
                }

                if (task.Exception?.InnerException is { } error && error is not OperationCanceledException)
                {
                    throw Map(name, error);
                }
            }

            if (session.CloseStatus is { } closed)
            {
                throw new RpcException(closed);
            }

            if (stopping.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the control plane is shutting down; reconnect (to another control plane if there is one)"));
            }
        }
        catch (OperationCanceledException) when (session.CloseStatus is { } closed)
        {
            throw new RpcException(closed);
        }
        catch (Exception e) when (e is not RpcException && e is not OperationCanceledException)
        {
            throw Map(name, e);
        }
        finally
        {
            subscription?.Dispose();
            endpointsSubscription?.Dispose();
            await EndAsync(session, registered);
        }
    }

    private async Task EndAsync(NodeSession session, bool registered)
    {
        // Cleanup must finish even though the call is gone; bound it instead.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), time);
        try
        {
            if (registered)
            {
                if (await nodes.MarkDisconnectedAsync(session.Node, options.MemberId, () => registry.IsCurrent(session), session.LastHeartbeatAt, timeout.Token))
                {
                    LogNotReady(logger, session.Node);
                }
            }

            if (session.LeaseId != 0)
            {
                await store.RevokeLeaseAsync(session.LeaseId, timeout.Token);
            }
        }
        catch (Exception e) when (e is StateStoreException or OperationCanceledException or ObjectDisposedException or ObjectException)
        {
            // The lease expires by itself and the liveness watcher marks the node; nothing is lost.
            LogCleanupFailed(logger, e, session.Node);
        }
        finally
        {
            registry.Detach(session);
        }
    }

    private static async Task WriteAsync(NodeSession session, IServerStreamWriter<ControlMessage> responses, CancellationToken cancellationToken)
    {
        await foreach (var message in session.Outgoing.ReadAllAsync(cancellationToken))
        {
            await responses.WriteAsync(message, cancellationToken);
        }
    }

    private static async Task FollowAssignmentsAsync(NodeSession session, AssignmentSubscription subscription, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var delta in subscription.Deltas(cancellationToken))
            {
                if (!session.TrySend(new ControlMessage { Delta = delta }))
                {
                    return;
                }
            }
        }
        catch (AssignmentFeedBrokenException e)
        {
            session.Close(new Status(StatusCode.Unavailable, $"node \"{session.Node}\": {e.Message}"));
        }
    }

    private static async Task FollowEndpointsAsync(NodeSession session, EndpointsSubscription subscription, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var update in subscription.Updates(cancellationToken))
            {
                if (!session.TrySend(new ControlMessage { Endpoints = update }))
                {
                    return;
                }
            }
        }
        catch (EndpointsFeedBrokenException e)
        {
            session.Close(new Status(StatusCode.Unavailable, $"node \"{session.Node}\": {e.Message}"));
        }
    }

    /// <summary>
    /// Writes the agent's reports in the order they came, off the read loop: a heartbeat is never
    /// queued behind store writes, so a busy store cannot make a live node's lease run out.
    /// </summary>
    private async Task WriteReportsAsync(NodeSession session, PendingReports reports, CancellationToken cancellationToken)
    {
        while (await reports.NextAsync(cancellationToken) is { } report)
        {
            await ApplyReportAsync(session, report, answerUnassigned: true, cancellationToken);
        }
    }

    private async Task ReadAsync(NodeSession session, IAsyncStreamReader<AgentMessage> requests, PendingReports reports, CancellationToken cancellationToken)
    {
        var lastStatusWrite = time.GetUtcNow();
        var statusWrite = Task.CompletedTask;
        try
        {
            await ReadLoopAsync();
        }
        finally
        {
            await Quiet(statusWrite);
        }

        async Task ReadLoopAsync()
        {
            while (await requests.MoveNext(cancellationToken))
            {
                var message = requests.Current;
                switch (message.MessageCase)
                {
                    case AgentMessage.MessageOneofCase.Heartbeat:
                        await RenewAsync(session, cancellationToken);
                        var now = time.GetUtcNow();
                        session.LastHeartbeatAt = now;
                        if (now - lastStatusWrite >= streamOptions.HeartbeatStatusIntervalFor(registry.Count) && statusWrite.IsCompleted && registry.IsCurrent(session))
                        {
                            // In the background: the next heartbeat must not wait for a store write.
                            lastStatusWrite = now;
                            statusWrite = RecordHeartbeatAsync(session.Node, session.EndpointsAck, cancellationToken);
                        }

                        break;
                    case AgentMessage.MessageOneofCase.Status:
                        if (NodeRegistration.ReportProblem(message.Status) is { } problem)
                        {
                            throw Malformed(session.Node, problem);
                        }

                        if (!reports.Add(message.Status))
                        {
                            session.Close(new Status(StatusCode.ResourceExhausted, $"node \"{session.Node}\": more than {streamOptions.PendingReportsCapacity} replica reports wait to be written; reconnect to report everything again"));
                            return;
                        }

                        break;
                    case AgentMessage.MessageOneofCase.EndpointsAck:
                        registry.RecordEndpointsAck(session, message.EndpointsAck.Version);

                        // To its store key (batched with other nodes' acks), where the leader's drain gate reads it.
                        endpointsAcks.Record(session.Node, session.EndpointsAck);
                        break;
                    case AgentMessage.MessageOneofCase.Register:
                        throw Malformed(session.Node, "Register was sent twice; it is only the first message of a stream (open a new stream to register again)");
                    default:
                        throw Malformed(session.Node, "the message is empty (no heartbeat, status or endpoints_ack is set)");
                }
            }
        }
    }

    /// <summary>Records <c>last_heartbeat</c>; a failure only means it is written on a later heartbeat.</summary>
    private async Task RecordHeartbeatAsync(string node, long endpointsAck, CancellationToken cancellationToken)
    {
        try
        {
            await nodes.RecordHeartbeatAsync(node, options.MemberId, endpointsAck, cancellationToken);
        }
        catch (Exception e) when (e is StateStoreException or ObjectException or OperationCanceledException or ObjectDisposedException)
        {
            LogHeartbeatWriteFailed(logger, node, e.Message);
        }
    }

    private async Task RenewAsync(NodeSession session, CancellationToken cancellationToken)
    {
        try
        {
            await store.KeepAliveAsync(session.LeaseId, cancellationToken);
        }
        catch (LeaseNotFoundException)
        {
            session.Close(new Status(StatusCode.Unavailable, $"node \"{session.Node}\": its liveness lease expired before this heartbeat (no heartbeat for {streamOptions.NodeGrace.TotalSeconds}s); reconnect to register again"));
        }
    }

    private async Task ApplyReportAsync(NodeSession session, ReplicaReport report, bool answerUnassigned, CancellationToken cancellationToken)
    {
        var outcome = await reports.ApplyAsync(session.Node, report, cancellationToken);
        switch (outcome)
        {
            case ReportOutcome.Stale:
                LogStaleReport(logger, session.Node, report.ReplicaId, report.Generation);
                break;
            case ReportOutcome.NotAssigned when answerUnassigned:
                LogUnassignedReport(logger, session.Node, report.ReplicaId);
                session.TrySend(new ControlMessage { Delta = new AssignmentDelta { Removed = { report.ReplicaId } } });
                break;
            case ReportOutcome.Conflict:
                LogReportConflict(logger, session.Node, report.ReplicaId);
                break;
            default:
                break;
        }
    }

    private static RpcException Malformed(string node, string problem) =>
        new(new Status(StatusCode.InvalidArgument, $"node \"{node}\": {problem}; the message was not applied"));

    private RpcException Map(string node, Exception e)
    {
        if (e is RpcException rpc)
        {
            return rpc;
        }

        if (e is ObjectConflictException conflict)
        {
            return new RpcException(new Status(StatusCode.Aborted, conflict.Message));
        }

        if (Api.ApiErrors.Map(e) is { } mapped)
        {
            return mapped;
        }

        LogUnexpected(logger, e, node);
        return new RpcException(new Status(StatusCode.Internal, $"node \"{node}\": internal error on the node stream: {e.Message}; the control plane log has the details"));
    }

    private static async Task Quiet(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
            // Inspected by the caller through task.Exception.
        }
    }

    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "Refused node stream from {Node}: {Problem}")]
    private static partial void LogRejected(ILogger logger, string node, string problem);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Node {Node} registered from {Address}, running {Running} replica(s)")]
    private static partial void LogRegistered(ILogger logger, string node, string address, int running);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Node {Node}: the agent closed its stream")]
    private static partial void LogStreamEnded(ILogger logger, string node);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Node {Node} is NotReady: its stream ended")]
    private static partial void LogNotReady(ILogger logger, string node);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Node {Node}: could not mark it disconnected or revoke its lease; the lease expires by itself")]
    private static partial void LogCleanupFailed(ILogger logger, Exception exception, string node);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Debug, Message = "Node {Node}: ignored a report for replica {Replica} at generation {Generation}, older than its spec (fenced)")]
    private static partial void LogStaleReport(ILogger logger, string node, string replica, long generation);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "Node {Node} reported replica {Replica}, which is not assigned to it; told the agent to stop it")]
    private static partial void LogUnassignedReport(ILogger logger, string node, string replica);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Node {Node}: the report for replica {Replica} lost its compare-and-swap race too often; it was not written")]
    private static partial void LogReportConflict(ILogger logger, string node, string replica);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "Node {Node}: the agent's stream broke off ({Problem})")]
    private static partial void LogStreamBroken(ILogger logger, string node, string problem);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Debug, Message = "Node {Node}: last_heartbeat not written ({Error}); a later heartbeat writes it")]
    private static partial void LogHeartbeatWriteFailed(ILogger logger, string node, string error);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "Unexpected error on the stream of node {Node}")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string node);
}
