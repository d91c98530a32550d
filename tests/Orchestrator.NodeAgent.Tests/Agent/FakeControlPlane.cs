using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Agent;

/// <summary>
/// Control planes in memory, behind the gRPC <see cref="CallInvoker"/> seam: each address is up or
/// down; a <c>Connect</c> to an up one becomes a <see cref="FakeNodeStream"/> the test drives, one to
/// a down one fails as an unreachable server does (UNAVAILABLE). <c>PushLogs</c> calls are recorded.
/// </summary>
internal sealed class FakeControlPlane
{
    private readonly ConcurrentDictionary<Uri, bool> _down = new();

    /// <summary>Every Connect attempt, in order, with its server.</summary>
    public Channel<Uri> Attempts { get; } = Channel.CreateUnbounded<Uri>();

    /// <summary>Streams to servers that are up, in order.</summary>
    public Channel<FakeNodeStream> Streams { get; } = Channel.CreateUnbounded<FakeNodeStream>();

    public Channel<FakeLogPush> LogPushes { get; } = Channel.CreateUnbounded<FakeLogPush>();

    public void SetDown(Uri server, bool down) => _down[server] = down;

    public CallInvoker Connect(Uri server) => new Invoker(this, server);

    private sealed class Invoker(FakeControlPlane plane, Uri server) : CallInvoker
    {
        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
        {
            plane.Attempts.Writer.TryWrite(server);
            var stream = new FakeNodeStream(server, plane._down.GetValueOrDefault(server), options.CancellationToken);
            if (!stream.Unreachable)
            {
                plane.Streams.Writer.TryWrite(stream);
            }

            return new AsyncDuplexStreamingCall<TRequest, TResponse>(
                (IClientStreamWriter<TRequest>)(object)stream.Writer,
                (IAsyncStreamReader<TResponse>)(object)stream.Reader,
                Task.FromResult(new Metadata()),
                () => Status.DefaultSuccess,
                () => [],
                () => { });
        }

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
        {
            var push = new FakeLogPush(options.CancellationToken);
            plane.LogPushes.Writer.TryWrite(push);
            return new AsyncClientStreamingCall<TRequest, TResponse>(
                (IClientStreamWriter<TRequest>)(object)push,
                push.Completed.Task.ContinueWith(_ => (TResponse)(object)new PushLogsResponse(), TaskScheduler.Default),
                Task.FromResult(new Metadata()),
                () => Status.DefaultSuccess,
                () => [],
                () => { });
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new NotSupportedException();

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new NotSupportedException();

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new NotSupportedException();
    }
}

/// <summary>One node stream as the control plane sees it: what the agent sent, and a way to answer.</summary>
internal sealed class FakeNodeStream
{
    private readonly Channel<ControlMessage> _down = Channel.CreateUnbounded<ControlMessage>();
    private readonly CancellationToken _callToken;

    public FakeNodeStream(Uri server, bool unreachable, CancellationToken callToken)
    {
        Server = server;
        Unreachable = unreachable;
        _callToken = callToken;
        Writer = new RequestWriter(this);
        Reader = new ResponseReader(this);
    }

    public Uri Server { get; }

    public bool Unreachable { get; }

    /// <summary>What the agent wrote, in order.</summary>
    public Channel<AgentMessage> Received { get; } = Channel.CreateUnbounded<AgentMessage>();

    internal IClientStreamWriter<AgentMessage> Writer { get; }

    internal IAsyncStreamReader<ControlMessage> Reader { get; }

    public void Send(ControlMessage message) => _down.Writer.TryWrite(message);

    public void SendRegistered(long heartbeatMs = 1000) =>
        Send(new ControlMessage { Registered = new Registered { ProtocolVersion = NodeProtocolVersion._1, ControlPlaneId = "cp-test", HeartbeatIntervalMs = heartbeatMs } });

    /// <summary>The control plane ends the stream (as when it stops).</summary>
    public void End() => _down.Writer.TryComplete();

    /// <summary>The next message the agent sent that matches, skipping heartbeats unless asked for.</summary>
    public async Task<AgentMessage> NextAsync(AgentMessage.MessageOneofCase kind, CancellationToken cancellationToken)
    {
        while (true)
        {
            var message = await Received.Reader.ReadAsync(cancellationToken);
            if (message.MessageCase == kind)
            {
                return message;
            }
        }
    }

    private static RpcException Unavailable() => new(new Status(StatusCode.Unavailable, "Error connecting to subchannel."));

    private sealed class RequestWriter(FakeNodeStream stream) : IClientStreamWriter<AgentMessage>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task CompleteAsync() => Task.CompletedTask;

        public Task WriteAsync(AgentMessage message) => WriteAsync(message, CancellationToken.None);

        public Task WriteAsync(AgentMessage message, CancellationToken cancellationToken)
        {
            if (stream.Unreachable)
            {
                return Task.FromException(Unavailable());
            }

            stream.Received.Writer.TryWrite(message);
            return Task.CompletedTask;
        }
    }

    private sealed class ResponseReader(FakeNodeStream stream) : IAsyncStreamReader<ControlMessage>
    {
        public ControlMessage Current { get; private set; } = new();

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (stream.Unreachable)
            {
                throw Unavailable();
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stream._callToken);
            try
            {
                if (!await stream._down.Reader.WaitToReadAsync(linked.Token))
                {
                    return false;
                }
            }
            catch (OperationCanceledException)
            {
                throw new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."));
            }

            Current = await stream._down.Reader.ReadAsync(CancellationToken.None);
            return true;
        }
    }
}

/// <summary>One PushLogs call: the chunks the agent wrote.</summary>
internal sealed class FakeLogPush(CancellationToken callToken) : IClientStreamWriter<LogChunk>
{
    public Channel<LogChunk> Chunks { get; } = Channel.CreateUnbounded<LogChunk>();

    public TaskCompletionSource Completed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CancellationToken CallToken { get; } = callToken;

    public WriteOptions? WriteOptions { get; set; }

    public Task CompleteAsync()
    {
        Chunks.Writer.TryComplete();
        Completed.TrySetResult();
        return Task.CompletedTask;
    }

    public Task WriteAsync(LogChunk message) => WriteAsync(message, CancellationToken.None);

    public Task WriteAsync(LogChunk message, CancellationToken cancellationToken)
    {
        Chunks.Writer.TryWrite(message);
        return Task.CompletedTask;
    }

    public async Task<List<LogChunk>> ReadAllAsync(CancellationToken cancellationToken)
    {
        var all = new List<LogChunk>();
        await foreach (var chunk in Chunks.Reader.ReadAllAsync(cancellationToken))
        {
            all.Add(chunk);
        }

        return all;
    }
}
