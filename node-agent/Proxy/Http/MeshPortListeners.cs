using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Orchestrator.NodeAgent.Proxy.Http;

/// <summary>
/// The endpoint the mesh's Kestrel listens on: not one socket but every published HTTP port of the
/// node, bound and unbound at run time by <see cref="MeshPortListeners"/>.
/// </summary>
internal sealed class MeshPortsEndPoint : EndPoint
{
    public override string ToString() => "mesh-ports";
}

/// <summary>
/// Kestrel's transport for the mesh: one listening socket per published HTTP port (Kestrel's own
/// socket transport), whose accepted connections all flow into the single listener Kestrel binds
/// for <see cref="MeshPortsEndPoint"/>. Binding a port is a plain call that throws when the port is
/// taken, and unbinding one leaves every other port's socket alone, so the mesh knows exactly which
/// ports are served when <see cref="IHttpMesh.ApplyAsync"/> returns (ADR 0021 says why this rather
/// than Kestrel's reloadable endpoint configuration).
/// </summary>
/// <remarks>
/// A port's socket stops accepting when it is closed; connections already accepted on it finish
/// their requests (a keep-alive connection's later requests find no route there and get a 503).
/// Closed listeners are disposed when the mesh stops: disposing one earlier would free buffers its
/// open connections still use.
/// </remarks>
internal sealed class MeshPortListeners : IConnectionListenerFactory, IConnectionListenerFactorySelector, IAsyncDisposable
{
    private readonly SocketTransportFactory _sockets;
    private readonly Channel<ConnectionContext> _accepted = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = false });
    private readonly ConcurrentDictionary<int, Port> _ports = new();
    private readonly ConcurrentBag<IConnectionListener> _closed = [];

    public MeshPortListeners(ILoggerFactory loggerFactory)
    {
        _sockets = new SocketTransportFactory(Options.Create(new SocketTransportOptions()), loggerFactory);
    }

    /// <summary>The ports bound now.</summary>
    public ICollection<int> Ports => _ports.Keys;

    public bool IsBound(int port) => _ports.ContainsKey(port);

    public bool CanBind(EndPoint endpoint) => endpoint is MeshPortsEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        endpoint is MeshPortsEndPoint
            ? ValueTask.FromResult<IConnectionListener>(new MergedListener(this, endpoint))
            : throw new NotSupportedException($"the mesh transport binds only {nameof(MeshPortsEndPoint)}, not {endpoint}");

    /// <summary>
    /// Binds <paramref name="endpoint"/> without accepting yet (connections wait in the backlog until
    /// <see cref="Accept"/>, so none arrives before its route exists). Throws
    /// <see cref="AddressInUseException"/> when another socket holds the port.
    /// </summary>
    public async ValueTask BindPortAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (_ports.ContainsKey(endpoint.Port))
        {
            return;
        }

        var listener = await _sockets.BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        _ports[endpoint.Port] = new Port(listener);
    }

    /// <summary>Starts handing the port's connections to Kestrel.</summary>
    public void Accept(int port)
    {
        if (_ports.TryGetValue(port, out var bound) && bound.Pump is null)
        {
            bound.Pump = Task.Run(() => PumpAsync(bound.Listener));
        }
    }

    /// <summary>Stops accepting on <paramref name="port"/> and releases the port; open connections go on.</summary>
    public async ValueTask ClosePortAsync(int port)
    {
        if (!_ports.TryRemove(port, out var bound))
        {
            return;
        }

        await bound.Listener.UnbindAsync().ConfigureAwait(false);
        if (bound.Pump is { } pump)
        {
            await pump.ConfigureAwait(false);
        }

        _closed.Add(bound.Listener);
    }

    private async Task PumpAsync(IConnectionListener listener)
    {
        while (await listener.AcceptAsync().ConfigureAwait(false) is { } connection)
        {
            if (!_accepted.Writer.TryWrite(connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private async ValueTask UnbindAllAsync()
    {
        foreach (var port in _ports.Keys.ToList())
        {
            await ClosePortAsync(port).ConfigureAwait(false);
        }

        _accepted.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAllAsync().ConfigureAwait(false);
        while (_closed.TryTake(out var listener))
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Port(IConnectionListener listener)
    {
        public IConnectionListener Listener { get; } = listener;

        public Task? Pump { get; set; }
    }

    /// <summary>What Kestrel sees: one listener whose connections come from every bound port.</summary>
    private sealed class MergedListener(MeshPortListeners owner, EndPoint endpoint) : IConnectionListener
    {
        public EndPoint EndPoint { get; } = endpoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await owner._accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => owner.UnbindAllAsync();

        public ValueTask DisposeAsync() => owner.DisposeAsync();
    }
}
