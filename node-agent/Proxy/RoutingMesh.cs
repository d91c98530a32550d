using System.Collections.Immutable;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Orchestrator.NodeAgent.Discovery;

namespace Orchestrator.NodeAgent.Proxy;

/// <summary>
/// The routing mesh of one node (docs/adr/0021-routing-mesh.md): from each endpoints snapshot it
/// computes one route per published service port and opens, updates or closes only the listeners
/// whose route changed. HTTP routes go to <see cref="IHttpMesh"/> (YARP), TCP routes to
/// <see cref="ITcpListenerFactory"/>.
/// </summary>
/// <remarks>
/// <see cref="ApplyAsync"/> returns once the snapshot's routes are in effect, before the agent acks
/// its version: the drain protocol reads an ack as "this node no longer routes to what the version
/// removed". A port that cannot be bound (another process holds it) does not fail the apply: it is
/// logged as a warning naming the service and the port and tried again every
/// <see cref="RoutingMeshOptions.BindRetryInterval"/> until it binds or its route goes away, so a
/// taken port never crashes the agent nor holds up the ack of other routes.
/// </remarks>
public sealed partial class RoutingMesh : IEndpointsConsumer, IAsyncDisposable
{
    private readonly RoutingMeshOptions _options;
    private readonly IHttpMesh _http;
    private readonly ITcpListenerFactory _tcpFactory;
    private readonly TimeProvider _time;
    private readonly ILogger<RoutingMesh> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<int, ITcpRouteListener> _tcp = [];
    private readonly Dictionary<int, string> _failed = [];
    private ImmutableHashSet<string> _conflicts = [];
    private MeshRouteTable _wanted = MeshRouteTable.Empty;
    private ImmutableSortedDictionary<int, MeshRoute> _active = ImmutableSortedDictionary<int, MeshRoute>.Empty;
    private ITimer? _retry;
    private bool _disposed;

    public RoutingMesh(RoutingMeshOptions options, IHttpMesh http, ITcpListenerFactory tcp, TimeProvider time, ILogger<RoutingMesh> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(tcp);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options;
        _http = http;
        _tcpFactory = tcp;
        _time = time;
        _logger = logger;
    }

    /// <summary>The routes in effect now, by published port (TCP routes not served yet included).</summary>
    public IReadOnlyDictionary<int, MeshRoute> Active => Volatile.Read(ref _active);

    /// <summary>Published ports whose route could not be bound yet, with why.</summary>
    public IReadOnlyDictionary<int, string> Failed
    {
        get
        {
            lock (_failed)
            {
                return new Dictionary<int, string>(_failed);
            }
        }
    }

    public async ValueTask ApplyAsync(EndpointsSnapshot snapshot, CancellationToken cancellationToken)
    {
        var table = MeshRouteTable.Compute(snapshot);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var conflict in table.Conflicts.Where(c => !_conflicts.Contains(c)))
            {
                LogConflict(conflict);
            }

            _conflicts = [.. table.Conflicts];
            _wanted = table;
            await ReconcileAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Brings the listeners to <see cref="_wanted"/>; called under <see cref="_gate"/>.</summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var wanted = _wanted.Routes;
        var plan = MeshPlan.Diff(_active, wanted);
        var failures = new Dictionary<int, string>();

        // HTTP: the whole set at once; the HTTP side binds new ports, keeps the others, unbinds the gone.
        var http = wanted.Values.Where(r => r.Protocol == MeshProtocol.Http).ToList();
        foreach (var (port, why) in await _http.ApplyAsync(http, cancellationToken).ConfigureAwait(false))
        {
            failures[port] = why;
        }

        foreach (var route in plan.Close.Where(r => r.Protocol == MeshProtocol.Tcp))
        {
            if (_tcp.Remove(route.Published, out var listener))
            {
                await listener.DisposeAsync().ConfigureAwait(false);
            }
        }

        foreach (var route in plan.Update.Where(r => r.Protocol == MeshProtocol.Tcp))
        {
            if (_tcp.TryGetValue(route.Published, out var listener))
            {
                listener.Update(route);
            }
        }

        foreach (var route in plan.Open.Where(r => r.Protocol == MeshProtocol.Tcp))
        {
            try
            {
                if (await _tcpFactory.OpenAsync(_options.Address, route, cancellationToken).ConfigureAwait(false) is { } listener)
                {
                    _tcp[route.Published] = listener;
                }
                else
                {
                    LogTcpNotServed(route.Service, route.Port, route.Published);
                }
            }
            catch (Exception e) when (e is SocketException or IOException or AddressInUseException)
            {
                failures[route.Published] = e.Message;
            }
        }

        var active = wanted.RemoveRange(failures.Keys);
        foreach (var route in plan.Close)
        {
            LogClosed(route.Service, route.Port, route.Published);
        }

        foreach (var route in plan.Open.Where(r => !failures.ContainsKey(r.Published)))
        {
            LogOpened(route.Describe(), _options.Address.ToString(), route.Endpoints.Length, route.Balancing);
        }

        foreach (var route in plan.Update.Where(r => !failures.ContainsKey(r.Published)))
        {
            LogUpdated(route.Describe(), route.Endpoints.Length, route.Balancing);
        }

        lock (_failed)
        {
            foreach (var (port, why) in failures)
            {
                if (!_failed.TryGetValue(port, out var before) || before != why)
                {
                    var route = wanted[port];
                    LogBindFailed(route.Service, route.Port, _options.Address.ToString(), port, why, _options.BindRetryInterval.TotalSeconds);
                }
            }

            foreach (var port in _failed.Keys.Where(p => !failures.ContainsKey(p) && active.ContainsKey(p)))
            {
                LogBound(active[port].Service, active[port].Port, port);
            }

            _failed.Clear();
            foreach (var (port, why) in failures)
            {
                _failed[port] = why;
            }
        }

        Volatile.Write(ref _active, active);
        _retry?.Dispose();
        _retry = failures.Count > 0
            ? _time.CreateTimer(static state => _ = ((RoutingMesh)state!).RetryAsync(), this, _options.BindRetryInterval, Timeout.InfiniteTimeSpan)
            : null;
    }

    private async Task RetryAsync()
    {
        try
        {
            await _gate.WaitAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        try
        {
            if (!_disposed)
            {
                await ReconcileAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // A retry runs on a timer with no caller to throw to; it logs and tries again later.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogRetryFailed(e);
            _retry?.Dispose();
            _retry = _time.CreateTimer(static state => _ = ((RoutingMesh)state!).RetryAsync(), this, _options.BindRetryInterval, Timeout.InfiniteTimeSpan);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _retry?.Dispose();
            foreach (var listener in _tcp.Values)
            {
                await listener.DisposeAsync().ConfigureAwait(false);
            }

            _tcp.Clear();
            await _http.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Mesh: listening for {Route} on {Address}, {Count} endpoint(s), {Balancing}")]
    private partial void LogOpened(string route, string address, int count, BalancingPolicy balancing);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Debug, Message = "Mesh: {Route} now has {Count} endpoint(s), {Balancing}")]
    private partial void LogUpdated(string route, int count, BalancingPolicy balancing);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Mesh: closed :{Published} ({Service}/{Port} is no longer published there)")]
    private partial void LogClosed(string service, string port, int published);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Mesh: cannot listen on {Address}:{Published} for service {Service} (port {Port}): {Reason}; another process probably holds the port; free it or change the service's published port; retrying every {Seconds}s")]
    private partial void LogBindFailed(string service, string port, string address, int published, string reason, double seconds);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "Mesh: :{Published} for service {Service} (port {Port}) is bound now")]
    private partial void LogBound(string service, string port, int published);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Mesh: {Service}/{Port} publishes TCP port {Published}; this agent does not serve TCP routes yet, so the port stays closed")]
    private partial void LogTcpNotServed(string service, string port, int published);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Mesh: {Conflict}")]
    private partial void LogConflict(string conflict);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Warning, Message = "Mesh: retrying the ports that could not be bound failed; trying again later")]
    private partial void LogRetryFailed(Exception exception);
}
