using System.Threading.Channels;
using Grpc.Core;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// One agent's open stream on this control plane: its bounded outgoing queue and the way to
/// close it with a reason. Created by <see cref="NodeConnection"/>, found through
/// <see cref="NodeSessionRegistry"/> by whoever needs to talk to the node (logs, endpoints).
/// </summary>
public sealed class NodeSession : IDisposable
{
    private readonly Channel<ControlMessage> _outgoing;
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _gate = new();
    private Status? _closeStatus;
    private long _endpointsAck;

    public NodeSession(string node, int queueCapacity)
    {
        Node = node;
        _outgoing = Channel.CreateBounded<ControlMessage>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Node { get; }

    /// <summary>A process-unique id, so a replaced session can tell it is no longer the current one.</summary>
    public Guid Id { get; } = Guid.NewGuid();

    /// <summary>The liveness lease this session keeps alive (0 until granted).</summary>
    public long LeaseId { get; set; }

    private long _lastHeartbeatTicks;

    /// <summary>When this control plane last heard a heartbeat (or the registration) on this stream; null before either.</summary>
    public DateTimeOffset? LastHeartbeatAt
    {
        get
        {
            var ticks = Interlocked.Read(ref _lastHeartbeatTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }

        set => Interlocked.Exchange(ref _lastHeartbeatTicks, value?.UtcTicks ?? 0);
    }

    /// <summary>Cancelled when the session is closed (replaced, queue full, lease lost, shutting down).</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Why the session was closed; null while it is open.</summary>
    public Status? CloseStatus
    {
        get
        {
            lock (_gate)
            {
                return _closeStatus;
            }
        }
    }

    /// <summary>The last endpoints version the agent's proxy acknowledged on this stream.</summary>
    public long EndpointsAck => Interlocked.Read(ref _endpointsAck);

    internal ChannelReader<ControlMessage> Outgoing => _outgoing.Reader;

    internal void AckEndpoints(long version)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref _endpointsAck);
            if (version <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _endpointsAck, version, current) != current);
    }

    /// <summary>
    /// Queues a message for the agent. A full queue means the agent does not keep up: the
    /// session is closed (the agent reconnects into a full resync) and false is returned.
    /// </summary>
    public bool TrySend(ControlMessage message)
    {
        if (_closed.IsCancellationRequested)
        {
            return false;
        }

        if (_outgoing.Writer.TryWrite(message))
        {
            return true;
        }

        Close(new Status(StatusCode.ResourceExhausted, $"node \"{Node}\": the agent did not keep up with the control plane's messages (outgoing queue full); reconnect to receive the full assignment set again"));
        return false;
    }

    /// <summary>Closes the session with the status its stream ends with; the first close wins.</summary>
    public void Close(Status status)
    {
        lock (_gate)
        {
            if (_closeStatus is not null)
            {
                return;
            }

            _closeStatus = status;
        }

        _outgoing.Writer.TryComplete();
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Closed after the stream already ended: nothing is listening any more.
        }
    }

    public void Dispose()
    {
        _closed.Dispose();
    }
}
