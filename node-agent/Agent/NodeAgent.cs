using System.Text;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;
using Polly;
using Polly.Retry;

namespace Orchestrator.NodeAgent.Agent;

/// <summary>
/// The agent's side of the node stream (docs/adr/0005-node-stream.md). It registers with the
/// node's description and everything the supervisor runs, heartbeats at the interval the control
/// plane asks for, forwards the supervisor's reports, hands the full assignment set to the
/// supervisor after every <c>AssignmentSet</c> or <c>AssignmentDelta</c>, keeps every service's
/// endpoints (<see cref="EndpointsTable"/>) and acknowledges each version it applied, and answers
/// <c>LogRequest</c>s over <c>PushLogs</c>. When the stream breaks it reconnects with capped,
/// jittered exponential backoff, moving to the next <c>--server</c> after each failure, and
/// registers again with a full report; replicas keep running meanwhile.
/// </summary>
public sealed partial class NodeAgent : BackgroundService
{
    private readonly NodeAgentOptions _options;
    private readonly INodeSupervisor _supervisor;
    private readonly IReadOnlyList<IContainerRuntime> _runtimes;
    private readonly NodeInfo _info;
    private readonly Func<Uri, CallInvoker> _connect;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Replica> _assigned = new(StringComparer.Ordinal);
    private Session? _session;
    private int _serverIndex;

    /// <param name="connect">Gives the call invoker (a gRPC channel) for a control plane address.</param>
    public NodeAgent(
        NodeAgentOptions options,
        INodeSupervisor supervisor,
        IEnumerable<IContainerRuntime> runtimes,
        NodeInfo info,
        Func<Uri, CallInvoker> connect,
        TimeProvider time,
        ILogger<NodeAgent>? logger = null,
        EndpointsTable? endpoints = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(supervisor);
        ArgumentNullException.ThrowIfNull(runtimes);
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentNullException.ThrowIfNull(time);
        if (options.Servers.Count == 0)
        {
            throw new ArgumentException("at least one control plane address is needed (--server)", nameof(options));
        }

        _options = options;
        _supervisor = supervisor;
        _runtimes = [.. runtimes];
        _info = info;
        _connect = connect;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Endpoints = endpoints ?? new EndpointsTable();
    }

    /// <summary>Every service's endpoints as the control plane last sent them.</summary>
    public EndpointsTable Endpoints { get; }

    /// <summary>The control plane this agent is registered with right now, or null while disconnected.</summary>
    public Uri? ConnectedTo => Volatile.Read(ref _session) is { Registered: true } session ? session.Server : null;

    /// <summary>Completes the first time the agent is registered.</summary>
    public Task FirstRegistration => _firstRegistration.Task;

    private readonly TaskCompletionSource _firstRegistration = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The replicas the control plane assigned to this node, as last received.</summary>
    public IReadOnlyList<Replica> Assignments()
    {
        lock (_gate)
        {
            return [.. _assigned.Values];
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pump = PumpReportsAsync(stoppingToken);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => !stoppingToken.IsCancellationRequested),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.ReconnectBaseDelay,
                MaxDelay = _options.ReconnectMaxDelay,
                OnRetry = args =>
                {
                    LogRetrying(_logger, CurrentServer(), args.RetryDelay.TotalMilliseconds);
                    return default;
                },
            })
            .Build();

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Each run of the pipeline is one series of attempts that ends in a registered
                // session; a new run after that session ends starts the backoff from the beginning.
                await pipeline.ExecuteAsync(ConnectOnceAsync, stoppingToken);
                await Task.Delay(_options.ReconnectBaseDelay, _time, stoppingToken);
            }
        }
        catch (Exception e) when (stoppingToken.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
            // Stopping: the cancelled stream ends as an RpcException (Cancelled) as often as an OperationCanceledException.
        }

        await pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private Uri CurrentServer() => _options.Servers[Volatile.Read(ref _serverIndex) % _options.Servers.Count];

    private void NextServer() => Interlocked.Increment(ref _serverIndex);

    /// <summary>One connection: throws when it failed before registration (so the pipeline retries), returns after a registered session ended.</summary>
    private async ValueTask ConnectOnceAsync(CancellationToken cancellationToken)
    {
        var server = CurrentServer();
        var session = new Session(server);
        try
        {
            var rotate = await RunSessionAsync(session, cancellationToken);
            if (rotate)
            {
                NextServer();
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            if (!session.Registered)
            {
                LogConnectFailed(_logger, server, Describe(e));
                NextServer();
                throw;
            }

            LogDisconnected(_logger, server, Describe(e));
        }
    }

    /// <summary>Runs one session until the stream ends; true when the control plane asked the agent to go elsewhere.</summary>
    private async Task<bool> RunSessionAsync(Session session, CancellationToken cancellationToken)
    {
        var client = new NodeApi.NodeApiClient(_connect(session.Server));
        using var sessionCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var call = client.Connect(cancellationToken: sessionCts.Token);

        // Published before the snapshot is taken: a report that arrives from now on is queued
        // behind the registration, so the control plane never sees an older state last.
        Volatile.Write(ref _session, session);
        Task? writer = null;
        Task? heartbeats = null;
        try
        {
            var register = new Register
            {
                ProtocolVersion = NodeProtocolVersion._1,
                NodeName = _options.NodeName,
                Info = _info,
                Token = _options.Token,
            };
            register.Running.AddRange(_supervisor.Snapshot());
            await call.RequestStream.WriteAsync(new AgentMessage { Register = register }, sessionCts.Token);

            if (!await call.ResponseStream.MoveNext(sessionCts.Token))
            {
                throw new IOException("the control plane closed the stream before answering the registration");
            }

            var first = call.ResponseStream.Current;
            if (first.MessageCase != ControlMessage.MessageOneofCase.Registered)
            {
                throw new IOException($"the control plane answered the registration with {first.MessageCase}, not Registered");
            }

            session.Registered = true;
            var interval = first.Registered.HeartbeatIntervalMs > 0
                ? TimeSpan.FromMilliseconds(first.Registered.HeartbeatIntervalMs)
                : _options.HeartbeatInterval;
            LogRegistered(_logger, _options.NodeName, session.Server, first.Registered.ControlPlaneId, interval.TotalMilliseconds);
            _firstRegistration.TrySetResult();

            writer = WriteLoopAsync(call.RequestStream, session, sessionCts);
            heartbeats = HeartbeatLoopAsync(session, interval, sessionCts.Token);
            return await ReadLoopAsync(call.ResponseStream, client, session, sessionCts.Token);
        }
        finally
        {
            Interlocked.CompareExchange(ref _session, null, session);
            session.Outgoing.Writer.TryComplete();
            await sessionCts.CancelAsync();
            if (writer is not null)
            {
                await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            if (heartbeats is not null)
            {
                await heartbeats.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await session.WaitForLogPushesAsync();
        }
    }

    private async Task<bool> ReadLoopAsync(IAsyncStreamReader<ControlMessage> responses, NodeApi.NodeApiClient client, Session session, CancellationToken cancellationToken)
    {
        while (await responses.MoveNext(cancellationToken))
        {
            var message = responses.Current;
            switch (message.MessageCase)
            {
                case ControlMessage.MessageOneofCase.Assignments:
                    ApplySet(message.Assignments);
                    break;
                case ControlMessage.MessageOneofCase.Delta:
                    ApplyDelta(message.Delta);
                    break;
                case ControlMessage.MessageOneofCase.Logs:
                    session.TrackLogPush(PushLogsAsync(client, message.Logs, cancellationToken));
                    break;
                case ControlMessage.MessageOneofCase.Reconnect:
                    LogReconnectAsked(_logger, session.Server, message.Reconnect.Reason);
                    return true;
                case ControlMessage.MessageOneofCase.Endpoints:
                    // Applied in version order (the mesh included); the ack says which version this node now routes by.
                    if (await Endpoints.ApplyAsync(message.Endpoints, cancellationToken).ConfigureAwait(false))
                    {
                        session.Outgoing.Writer.TryWrite(new AgentMessage { EndpointsAck = new EndpointsAck { Version = Endpoints.Current.Version } });
                    }

                    break;
                default:
                    break;
            }
        }

        LogStreamEnded(_logger, session.Server);
        return false;
    }

    internal void ApplySet(AssignmentSet set)
    {
        lock (_gate)
        {
            _assigned.Clear();
            foreach (var assignment in set.Assignments)
            {
                _assigned[assignment.Replica.Meta.Name] = assignment.Replica;
            }

            LogAssignments(_logger, _assigned.Count, set.Revision);
            _supervisor.SetAssignments([.. _assigned.Values]);
        }
    }

    internal void ApplyDelta(AssignmentDelta delta)
    {
        lock (_gate)
        {
            foreach (var assignment in delta.Upserted)
            {
                _assigned[assignment.Replica.Meta.Name] = assignment.Replica;
            }

            foreach (var id in delta.Removed)
            {
                _assigned.Remove(id);
            }

            _supervisor.SetAssignments([.. _assigned.Values]);
        }
    }

    private static async Task WriteLoopAsync(IClientStreamWriter<AgentMessage> requests, Session session, CancellationTokenSource sessionCts)
    {
        try
        {
            await foreach (var message in session.Outgoing.Reader.ReadAllAsync(sessionCts.Token))
            {
                await requests.WriteAsync(message, sessionCts.Token);
            }
        }
        finally
        {
            // A write that fails ends the session; the read side notices through the token.
            await sessionCts.CancelAsync();
        }
    }

    private async Task HeartbeatLoopAsync(Session session, TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, _time);
        ulong sequence = 0;
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            session.Outgoing.Writer.TryWrite(new AgentMessage
            {
                Heartbeat = new Heartbeat { SentAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow()), Sequence = ++sequence },
            });
        }
    }

    private async Task PumpReportsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var report in _supervisor.Reports.ReadAllAsync(cancellationToken))
            {
                // While disconnected a report is dropped: the next registration carries the full snapshot.
                Volatile.Read(ref _session)?.Outgoing.Writer.TryWrite(new AgentMessage { Status = report });
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task PushLogsAsync(NodeApi.NodeApiClient client, LogRequest request, CancellationToken cancellationToken)
    {
        try
        {
            using var call = client.PushLogs(cancellationToken: cancellationToken);
            var writer = call.RequestStream;
            string? error = null;
            try
            {
                var tail = request.TailLines > 0 ? request.TailLines : (int?)null;
                await foreach (var line in ReadLogsAsync(request.ReplicaId, tail, request.Follow, cancellationToken))
                {
                    await writer.WriteAsync(new LogChunk
                    {
                        RequestId = request.RequestId,
                        ReplicaId = request.ReplicaId,
                        Data = ByteString.CopyFrom(Encoding.UTF8.GetBytes(line.Text + "\n")),
                        Stderr = line.Stream == LogStream.Stderr,
                    }, cancellationToken);
                }
            }
            catch (KeyNotFoundException)
            {
                error = $"replica {request.ReplicaId} is not known on node {_options.NodeName}";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                error = $"cannot read the logs of {request.ReplicaId} on node {_options.NodeName}: {e.Message}";
            }

            await writer.WriteAsync(new LogChunk { RequestId = request.RequestId, ReplicaId = request.ReplicaId, End = true, Error = error ?? "" }, cancellationToken);
            await writer.CompleteAsync();
            await call.ResponseAsync;
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException)
        {
            // The reader went away (Ctrl-C on orc logs -f) or the stream ended: nothing to answer.
            LogLogPushEnded(_logger, request.RequestId, Describe(e));
        }
    }

    /// <summary>The replica's output from the runtime that runs it: its assigned driver first, then any runtime that knows it.</summary>
    private async IAsyncEnumerable<Runtime.LogLine> ReadLogsAsync(string replicaId, int? tail, bool follow, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? driver = null;
        lock (_gate)
        {
            if (_assigned.TryGetValue(replicaId, out var replica))
            {
                driver = NodeInfoFactory.FromDriver(replica.Spec?.Template?.Driver ?? Driver.Unspecified);
            }
        }

        var candidates = _runtimes
            .OrderBy(r => r.Name == driver ? 0 : 1)
            .OfType<IReplicaLogs>()
            .ToList();
        foreach (var logs in candidates)
        {
            var enumerator = logs.ReadLogsAsync(replicaId, tail, follow, cancellationToken).GetAsyncEnumerator(cancellationToken);
            await using (enumerator)
            {
                bool any;
                try
                {
                    any = await enumerator.MoveNextAsync();
                }
                catch (KeyNotFoundException)
                {
                    continue;
                }

                while (any)
                {
                    yield return enumerator.Current;
                    any = await enumerator.MoveNextAsync();
                }

                yield break;
            }
        }

        throw new KeyNotFoundException(replicaId);
    }

    private static string Describe(Exception e) => e switch
    {
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        _ => e.Message,
    };

    private sealed class Session(Uri server)
    {
        private readonly List<Task> _logPushes = [];

        public Uri Server { get; } = server;

        public bool Registered { get; set; }

        public Channel<AgentMessage> Outgoing { get; } = Channel.CreateUnbounded<AgentMessage>(new UnboundedChannelOptions { SingleReader = true });

        public void TrackLogPush(Task push)
        {
            lock (_logPushes)
            {
                _logPushes.RemoveAll(t => t.IsCompleted);
                _logPushes.Add(push);
            }
        }

        public async Task WaitForLogPushesAsync()
        {
            Task[] pending;
            lock (_logPushes)
            {
                pending = [.. _logPushes];
            }

            await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Node {Node} registered with {Server} (control plane {ControlPlane}, heartbeat every {IntervalMs} ms)")]
    private static partial void LogRegistered(ILogger logger, string node, Uri server, string controlPlane, double intervalMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Cannot connect to {Server}: {Error}")]
    private static partial void LogConnectFailed(ILogger logger, Uri server, string error);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Lost the connection to {Server}: {Error}; replicas keep running, reconnecting")]
    private static partial void LogDisconnected(ILogger logger, Uri server, string error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Next attempt on {Server} in {DelayMs:F0} ms")]
    private static partial void LogRetrying(ILogger logger, Uri server, double delayMs);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "{Server} asked this agent to reconnect: {Reason}")]
    private static partial void LogReconnectAsked(ILogger logger, Uri server, string reason);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "{Server} closed the node stream; replicas keep running, reconnecting")]
    private static partial void LogStreamEnded(ILogger logger, Uri server);

    [LoggerMessage(EventId = 7, Level = LogLevel.Debug, Message = "Assignment set: {Count} replicas at revision {Revision}")]
    private static partial void LogAssignments(ILogger logger, int count, long revision);

    [LoggerMessage(EventId = 8, Level = LogLevel.Debug, Message = "Log request {RequestId} ended: {Reason}")]
    private static partial void LogLogPushEnded(ILogger logger, string requestId, string reason);
}
