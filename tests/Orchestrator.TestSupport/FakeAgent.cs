using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Orchestrator.V1;

namespace Orchestrator.TestSupport;

/// <summary>
/// A node agent reduced to its protocol: it opens the real <c>NodeApi.Connect</c> stream,
/// registers, and lets a test send heartbeats and reports and read what the control plane sends.
/// Answers log requests through the real <c>PushLogs</c> RPC. Dispose cancels the stream.
/// </summary>
public sealed class FakeAgent : IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<AgentMessage, ControlMessage> _call;
    private readonly Channel<ControlMessage> _received = Channel.CreateUnbounded<ControlMessage>();
    private readonly TaskCompletionSource<Status> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;

    private FakeAgent(NodeApi.NodeApiClient client, string name)
    {
        Client = client;
        Name = name;
        _call = client.Connect(cancellationToken: _stop.Token);
        _reading = ReadAsync();
    }

    public NodeApi.NodeApiClient Client { get; }

    public string Name { get; }

    /// <summary>Opens a stream and sends <paramref name="register"/> (or <see cref="Registration"/> of <paramref name="name"/>) as its first message.</summary>
    public static async Task<FakeAgent> ConnectAsync(GrpcChannel channel, string name, Register? register = null, CancellationToken cancellationToken = default)
    {
        var agent = new FakeAgent(new NodeApi.NodeApiClient(channel), name);
        await agent.SendAsync(new AgentMessage { Register = register ?? Registration(name) }, cancellationToken);
        return agent;
    }

    /// <summary>Opens a stream and sends <paramref name="first"/> as its first message, whatever it is.</summary>
    public static async Task<FakeAgent> ConnectRawAsync(GrpcChannel channel, AgentMessage first, CancellationToken cancellationToken = default)
    {
        var agent = new FakeAgent(new NodeApi.NodeApiClient(channel), first.Register?.NodeName ?? "");
        await agent.SendAsync(first, cancellationToken);
        return agent;
    }

    /// <summary>A valid registration: 4 cpus, 8Gi, both drivers, ports 20000-20999, address 127.0.0.2.</summary>
    public static Register Registration(string name) => new()
    {
        ProtocolVersion = NodeProtocolVersion._1,
        NodeName = name,
        Info = new NodeInfo
        {
            Address = "127.0.0.2",
            Labels = { ["zone"] = "a" },
            Drivers = { Driver.Process, Driver.Docker },
            Capacity = new Resources { CpuMillis = 4000, MemoryBytes = 8L << 30 },
            Allocatable = new Resources { CpuMillis = 4000, MemoryBytes = 8L << 30 },
            Ports = new PortRange { First = 20000, Last = 20999 },
            AgentVersion = "test",
            Os = "linux",
        },
    };

    public Task SendAsync(AgentMessage message, CancellationToken cancellationToken = default) =>
        _call.RequestStream.WriteAsync(message, cancellationToken);

    public Task HeartbeatAsync(ulong sequence, CancellationToken cancellationToken = default) =>
        SendAsync(new AgentMessage { Heartbeat = new Heartbeat { Sequence = sequence } }, cancellationToken);

    public Task ReportAsync(string replicaId, long generation, ReplicaStatus status, CancellationToken cancellationToken = default) =>
        SendAsync(new AgentMessage { Status = new ReplicaReport { ReplicaId = replicaId, Generation = generation, Status = status } }, cancellationToken);

    /// <summary>The next message from the control plane.</summary>
    /// <exception cref="RpcException">The stream ended (with its status) before another message came.</exception>
    public async Task<ControlMessage> NextAsync(CancellationToken cancellationToken = default)
    {
        if (await _received.Reader.WaitToReadAsync(cancellationToken) && _received.Reader.TryRead(out var message))
        {
            return message;
        }

        var status = await _ended.Task;
        throw new RpcException(status, $"the node stream ended before the next message: {status.StatusCode}: {status.Detail}");
    }

    /// <summary>The next message, which must be of the given kind.</summary>
    public async Task<ControlMessage> NextAsync(ControlMessage.MessageOneofCase expected, CancellationToken cancellationToken = default)
    {
        var message = await NextAsync(cancellationToken);
        return message.MessageCase == expected
            ? message
            : throw new InvalidOperationException($"expected {expected} from the control plane, got {message.MessageCase}: {message}");
    }

    /// <summary>
    /// Reads <c>Registered</c>, the full assignment set that follows it, and the full endpoints
    /// update after that (kept in <see cref="InitialEndpoints"/>).
    /// </summary>
    public async Task<(Registered Registered, AssignmentSet Assignments)> HandshakeAsync(CancellationToken cancellationToken = default)
    {
        var registered = (await NextAsync(ControlMessage.MessageOneofCase.Registered, cancellationToken)).Registered;
        var set = (await NextAsync(ControlMessage.MessageOneofCase.Assignments, cancellationToken)).Assignments;
        InitialEndpoints = (await NextAsync(ControlMessage.MessageOneofCase.Endpoints, cancellationToken)).Endpoints;
        return (registered, set);
    }

    /// <summary>The full endpoints update <see cref="HandshakeAsync"/> read (null before it).</summary>
    public EndpointsUpdate? InitialEndpoints { get; private set; }

    /// <summary>How the stream ended: OK when the control plane completed it, otherwise its error status.</summary>
    public Task<Status> EndedAsync(CancellationToken cancellationToken = default) => _ended.Task.WaitAsync(cancellationToken);

    /// <summary>Ends the agent's side of the stream cleanly, as an agent that shuts down does.</summary>
    public Task CloseAsync() => _call.RequestStream.CompleteAsync();

    /// <summary>
    /// Answers a log request through <c>PushLogs</c>: sends each chunk, then the end marker
    /// unless <paramref name="end"/> is false. Returns the open call (completed by the server when it is done with it).
    /// </summary>
    public async Task<AsyncClientStreamingCall<LogChunk, PushLogsResponse>> PushLogsAsync(
        LogRequest request,
        IEnumerable<(string Text, bool Stderr)> lines,
        bool end = true,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(lines);
        var push = Client.PushLogs(cancellationToken: cancellationToken);
        foreach (var (text, stderr) in lines)
        {
            await push.RequestStream.WriteAsync(new LogChunk { RequestId = request.RequestId, ReplicaId = request.ReplicaId, Data = ByteString.CopyFromUtf8(text), Stderr = stderr }, cancellationToken);
        }

        if (end)
        {
            await push.RequestStream.WriteAsync(new LogChunk { RequestId = request.RequestId, ReplicaId = request.ReplicaId, End = true }, cancellationToken);
            await push.RequestStream.CompleteAsync();
        }

        return push;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _reading;
        }
        finally
        {
            _call.Dispose();
            _stop.Dispose();
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            await foreach (var message in _call.ResponseStream.ReadAllAsync(_stop.Token))
            {
                _received.Writer.TryWrite(message);
            }

            _ended.TrySetResult(_call.GetStatus());
        }
        catch (RpcException e)
        {
            _ended.TrySetResult(e.Status);
        }
        catch (OperationCanceledException)
        {
            _ended.TrySetResult(new Status(StatusCode.Cancelled, "the fake agent was disposed"));
        }
        finally
        {
            _received.Writer.TryComplete();
        }
    }
}
