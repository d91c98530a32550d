using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>
/// The routing mesh's listener for one published TCP port: a plain socket accept loop that connects
/// each accepted connection to one of the port's endpoints (by the balancing policy, falling back
/// to the others when a connect fails) and copies bytes both ways until both directions end or one
/// side resets. Endpoint updates apply to new connections at once and never cut an open one; see
/// <c>node-agent/Proxy/Tcp/README.md</c> for what it guarantees.
/// </summary>
public sealed partial class TcpProxyListener : IAsyncDisposable
{
    private const int New = 0;
    private const int Running = 1;
    private const int Disposed = 2;

    private readonly string _serviceName;
    private readonly string _portName;
    private readonly IPEndPoint _address;
    private readonly TcpProxyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly MeshMetrics? _metrics;
    private readonly Random _random;
    private readonly Lock _updateGate = new();
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _cutConnections = new();
    private readonly TaskCompletionSource _allClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile EndpointSet _endpoints = EndpointSet.Empty;
    private Socket? _listener;
    private IPEndPoint? _bound;
    private Task _acceptLoop = Task.CompletedTask;
    private int _state = New;

    // Open connections plus one for the accept loop, so the count reaches zero only once the loop has
    // stopped and every connection it started has ended (see ConnectionEnded).
    private int _liveCount = 1;
    private int _open;

    public TcpProxyListener(
        string serviceName,
        string portName,
        IPEndPoint address,
        TcpProxyOptions options,
        TimeProvider timeProvider,
        ILogger logger,
        MeshMetrics? metrics = null)
        : this(serviceName, portName, address, options, timeProvider, logger, metrics, Random.Shared)
    {
    }

    /// <summary>With the random source power-of-two-choices draws from (seeded in tests).</summary>
    internal TcpProxyListener(
        string serviceName,
        string portName,
        IPEndPoint address,
        TcpProxyOptions options,
        TimeProvider timeProvider,
        ILogger logger,
        MeshMetrics? metrics,
        Random random)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        ArgumentException.ThrowIfNullOrWhiteSpace(portName);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException($"TCP proxy options for {serviceName}/{portName} are not valid: {string.Join("; ", problems)}", nameof(options));
        }

        _serviceName = serviceName;
        _portName = portName;
        _address = address;
        _options = options;
        _time = timeProvider;
        _logger = logger;
        _metrics = metrics;
        _random = random;
    }

    /// <summary>The address it listens on: after <see cref="Start"/>, with the port the system chose when asked for port 0.</summary>
    public IPEndPoint LocalEndpoint => _bound ?? _address;

    /// <summary>Connections accepted and not yet ended.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>The balancing policy of the current endpoint set.</summary>
    public BalancingPolicy Policy => _endpoints.Policy;

    /// <summary>
    /// Binds the address and starts accepting. Throws <see cref="TcpProxyBindException"/>, naming the
    /// address and the fix, when it cannot bind; the listener can then only be disposed.
    /// </summary>
    public void Start()
    {
        // Under the gate so a DisposeAsync racing with Start either sees the listening socket or
        // makes Start throw, never leaves a socket and accept loop behind.
        lock (_updateGate)
        {
            ObjectDisposedException.ThrowIf(_state == Disposed, this);
            if (_state == Running)
            {
                throw new InvalidOperationException($"the TCP listener for {_serviceName}/{_portName} on {_address} is already started");
            }

            var socket = new Socket(_address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(_address);
                socket.Listen(_options.Backlog);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                throw new TcpProxyBindException(BindFailure(ex), _address, ex.SocketErrorCode, ex);
            }

            _bound = (IPEndPoint)socket.LocalEndPoint!;
            _listener = socket;
            _state = Running;
            LogListening(_logger, _serviceName, _portName, LocalEndpoint);
            _acceptLoop = AcceptLoopAsync(socket, _stopAccepting.Token);
        }
    }

    /// <summary>
    /// Replaces the endpoints and the policy in one swap: connections accepted from now on use the new
    /// set; connections already open keep the endpoint they have, even one no longer in the set, until
    /// they close. An endpoint kept across updates keeps its open-connection count and its passive
    /// health. Invalid endpoints (bad address or port, duplicates) throw <see cref="ArgumentException"/>
    /// listing each problem and change nothing. After <see cref="DisposeAsync"/> this does nothing.
    /// </summary>
    public void UpdateEndpoints(IReadOnlyList<MeshEndpoint> endpoints, BalancingPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var problems = Problems(endpoints, policy);
        if (problems.Count > 0)
        {
            throw new ArgumentException(
                $"endpoints for {_serviceName}/{_portName} not applied (the listener keeps its {_endpoints.Endpoints.Count} current endpoints): {string.Join("; ", problems)}",
                nameof(endpoints));
        }

        lock (_updateGate)
        {
            if (Volatile.Read(ref _state) == Disposed)
            {
                return;
            }

            var current = _endpoints;
            var kept = current.Endpoints.ToDictionary(e => e.Endpoint);
            var tracked = new TrackedEndpoint[endpoints.Count];
            for (var i = 0; i < endpoints.Count; i++)
            {
                tracked[i] = kept.GetValueOrDefault(endpoints[i]) ?? new TrackedEndpoint(endpoints[i]);
            }

            var picker = current.Policy == policy && current.Endpoints.Count > 0
                ? current.Picker
                : EndpointPickers.For(policy, _random);
            _endpoints = new EndpointSet(tracked, picker, policy);
            LogEndpointsUpdated(_logger, _serviceName, _portName, tracked.Length, picker.Name);
        }
    }

    /// <summary>Each current endpoint with its open connections and passive health.</summary>
    public IReadOnlyList<TcpEndpointStatus> GetEndpointStatus()
    {
        var now = _time.GetTimestamp();
        return _endpoints.Endpoints
            .Select(e => new TcpEndpointStatus(
                e.Endpoint,
                e.Open,
                e.Failures,
                e.IsSetAside(now) ? _time.GetElapsedTime(now, e.SetAsideUntil) : TimeSpan.Zero))
            .ToList();
    }

    /// <summary>
    /// Stops accepting and closes the listening socket at once, then gives open connections
    /// <see cref="TcpProxyOptions.ShutdownGracePeriod"/> to end on their own, then closes those
    /// still open with a reset. Returns when every connection has ended.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Task acceptLoop;
        lock (_updateGate)
        {
            if (_state == Disposed)
            {
                return;
            }

            _state = Disposed;
            _stopAccepting.Cancel();
            _listener?.Dispose();
            acceptLoop = _acceptLoop;
        }

        await acceptLoop;
        ConnectionEnded(); // the accept loop's own count

        if (!_allClosed.Task.IsCompleted && _options.ShutdownGracePeriod > TimeSpan.Zero)
        {
            try
            {
                await _allClosed.Task.WaitAsync(_options.ShutdownGracePeriod, _time);
            }
            catch (TimeoutException)
            {
                // Those still open are cut below.
            }
        }

        if (!_allClosed.Task.IsCompleted)
        {
            LogCuttingConnections(_logger, _serviceName, _portName, OpenConnections, _options.ShutdownGracePeriod.TotalSeconds);
            await _cutConnections.CancelAsync();
            await _allClosed.Task;
        }

        LogStopped(_logger, _serviceName, _portName, LocalEndpoint);
        _stopAccepting.Dispose();
        _cutConnections.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stopping);
            }
            catch (Exception ex) when (stopping.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                break;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                // The client gave up before it was accepted; nothing to forward.
                continue;
            }
            catch (SocketException ex)
            {
                // Out of file descriptors and the like: pause instead of spinning, then keep accepting.
                LogAcceptFailed(_logger, ex, _serviceName, _portName, ex.SocketErrorCode);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _time, stopping);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                continue;
            }

            Interlocked.Increment(ref _liveCount);
            Interlocked.Increment(ref _open);
            // On the thread pool: a connect or a first copy that completes synchronously must not
            // hold up the next accept.
            _ = Task.Run(() => HandleAsync(client), CancellationToken.None);
        }
    }

    private async Task HandleAsync(Socket client)
    {
        var started = _time.GetTimestamp();
        _metrics?.Started(_serviceName, _portName);
        var outcome = "failed";
        Socket? backend = null;
        TrackedEndpoint? endpoint = null;
        try
        {
            var set = _endpoints;
            if (set.Endpoints.Count == 0)
            {
                _metrics?.Error(_serviceName, _portName, "no-endpoints");
                LogNoEndpoints(_logger, _serviceName, _portName);
                CloseWithReset(client);
                return;
            }

            (backend, endpoint) = await ConnectAsync(set);
            if (backend is null)
            {
                CloseWithReset(client);
                return;
            }

            outcome = "closed";
            client.NoDelay = true;
            await RelayAsync(client, backend);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            LogConnectionFailed(_logger, ex, _serviceName, _portName);
        }
        finally
        {
            backend?.Dispose();
            endpoint?.Release();
            client.Dispose();
            _metrics?.Completed(_serviceName, _portName, outcome, _time.GetElapsedTime(started));
            Interlocked.Decrement(ref _open);
            ConnectionEnded();
        }
    }

    /// <summary>
    /// Connects to an endpoint the policy picks; on a failed connect sets that endpoint aside and
    /// tries another, each at most once. Returns the connected socket and its endpoint (counted as
    /// open), or nulls when every endpoint failed or the listener is cutting connections.
    /// </summary>
    private async Task<(Socket? Socket, TrackedEndpoint? Endpoint)> ConnectAsync(EndpointSet set)
    {
        var tried = new bool[set.Endpoints.Count];
        while (set.Pick(tried, _time.GetTimestamp()) is { } endpoint)
        {
            endpoint.Acquire();
            var (socket, failure) = await TryConnectAsync(endpoint);
            if (socket is not null)
            {
                if (endpoint.RecordSuccess())
                {
                    LogEndpointRecovered(_logger, _serviceName, _portName, endpoint.Endpoint);
                }

                return (socket, endpoint);
            }

            endpoint.Release();
            if (failure is null)
            {
                return (null, null);
            }

            _metrics?.Error(_serviceName, _portName, failure);
            var (setAsideFor, wasHealthy) = endpoint.RecordFailure(_time.GetTimestamp(), _time.TimestampFrequency, _options.SetAsideBase, _options.SetAsideMax);
            if (wasHealthy)
            {
                LogEndpointSetAside(_logger, _serviceName, _portName, endpoint.Endpoint, failure, setAsideFor.TotalSeconds);
            }
            else
            {
                LogEndpointStillFailing(_logger, _serviceName, _portName, endpoint.Endpoint, failure, setAsideFor.TotalSeconds);
            }
        }

        LogNoEndpointAnswered(_logger, _serviceName, _portName, set.Endpoints.Count);
        return (null, null);
    }

    /// <summary>A connected socket, or the error reason (null when the listener is cutting connections).</summary>
    private async Task<(Socket? Socket, string? Failure)> TryConnectAsync(TrackedEndpoint endpoint)
    {
        var socket = endpoint.Target is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _cutConnections.Token);
        try
        {
            await socket.ConnectAsync(endpoint.Target, linked.Token);
            socket.NoDelay = true;
            return (socket, null);
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            return (null, _cutConnections.IsCancellationRequested ? null : "connect-timeout");
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            return (null, ConnectFailure(ex.SocketErrorCode));
        }
    }

    internal static string ConnectFailure(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connect-refused",
        SocketError.TimedOut => "connect-timeout",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostDown or SocketError.NetworkDown => "connect-unreachable",
        _ => "connect-failed",
    };

    private async Task RelayAsync(Socket client, Socket backend)
    {
        var relay = new Relay(client, backend);
        using var cut = _cutConnections.Token.Register(static state => ((Relay)state!).Abort(), relay);
        // The upstream copy on its own work item, so a client already sending data cannot keep the
        // downstream copy from starting while its reads complete synchronously.
        var upstream = Task.Run(() => PumpAsync(client, backend, relay), CancellationToken.None);
        await Task.WhenAll(upstream, PumpAsync(backend, client, relay));
        if (relay.WasReset)
        {
            _metrics?.Error(_serviceName, _portName, "reset");
        }
    }

    /// <summary>
    /// Copies <paramref name="from"/> to <paramref name="to"/> through one pooled buffer until
    /// <paramref name="from"/> ends: its FIN is passed on as <c>Shutdown(Send)</c> (half-close), an
    /// error on either socket resets both.
    /// </summary>
    private async Task PumpAsync(Socket from, Socket to, Relay relay)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(_options.BufferSize);
        try
        {
            var memory = buffer.AsMemory(0, _options.BufferSize);
            while (true)
            {
                var read = await from.ReceiveAsync(memory, SocketFlags.None);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                var sent = 0;
                while (sent < read)
                {
                    sent += await to.SendAsync(memory[sent..read], SocketFlags.None);
                }
            }
        }
        catch (SocketException ex)
        {
            // OperationAborted is our own abort (the other direction failed, or the listener cut the
            // connection); anything else is a peer resetting or vanishing.
            relay.Fail(reset: ex.SocketErrorCode is not (SocketError.OperationAborted or SocketError.Interrupted));
        }
        catch (ObjectDisposedException)
        {
            relay.Fail(reset: false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void CloseWithReset(Socket socket)
    {
        try
        {
            // Linger zero makes the close a reset: the client learns at once that nothing answered,
            // instead of reading an orderly end of an empty stream.
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone; the close below is all that is left to do.
        }

        socket.Dispose();
    }

    private void ConnectionEnded()
    {
        if (Interlocked.Decrement(ref _liveCount) == 0)
        {
            _allClosed.TrySetResult();
        }
    }

    private static List<string> Problems(IReadOnlyList<MeshEndpoint> endpoints, BalancingPolicy policy)
    {
        var problems = new List<string>();
        if (!Enum.IsDefined(policy))
        {
            problems.Add($"balancing policy {(int)policy} is unknown; use RoundRobin, LeastRequests or PowerOfTwoChoices");
        }

        var seen = new HashSet<(string, int)>();
        for (var i = 0; i < endpoints.Count; i++)
        {
            var endpoint = endpoints[i];
            if (endpoint is null)
            {
                problems.Add($"endpoint {i} is null; leave it out of the list");
                continue;
            }

            if (string.IsNullOrWhiteSpace(endpoint.Address) || Uri.CheckHostName(endpoint.Address) == UriHostNameType.Unknown)
            {
                problems.Add($"endpoint {i} ({endpoint.Replica}) has address \"{endpoint.Address}\", which is neither an IP address nor a host name; give the node's address, such as 127.0.0.2");
            }

            if (endpoint.Port is < 1 or > 65535)
            {
                problems.Add($"endpoint {i} ({endpoint.Replica}) has port {endpoint.Port}; give a port from 1 to 65535");
            }

            if (!seen.Add((endpoint.Address, endpoint.Port)))
            {
                problems.Add($"endpoint {i} ({endpoint.Replica}) repeats {endpoint.Address}:{endpoint.Port}; list each address and port once");
            }
        }

        return problems;
    }

    private string BindFailure(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse =>
            $"cannot listen on {_address} for {_serviceName}/{_portName}: the address is already in use (another process or listener holds the port); free the port or publish the service on another one",
        SocketError.AddressNotAvailable =>
            $"cannot listen on {_address} for {_serviceName}/{_portName}: the address is not one of this machine's; check the agent's --address",
        SocketError.AccessDenied =>
            $"cannot listen on {_address} for {_serviceName}/{_portName}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE, or publish a port above 1023",
        _ => $"cannot listen on {_address} for {_serviceName}/{_portName}: {ex.Message} ({ex.SocketErrorCode})",
    };

    /// <summary>The two sockets of one forwarded connection; the first failure in either direction resets both.</summary>
    private sealed class Relay(Socket client, Socket backend)
    {
        private int _aborted;
        private int _reset;

        public bool WasReset => Volatile.Read(ref _reset) == 1;

        public void Fail(bool reset)
        {
            if (reset)
            {
                Interlocked.CompareExchange(ref _reset, 1, 0);
            }

            Abort();
        }

        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 1)
            {
                return;
            }

            CloseWithReset(client);
            CloseWithReset(backend);
        }
    }

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Mesh TCP listener for {Service}/{Port} listening on {Address}")]
    private static partial void LogListening(ILogger logger, string service, string port, IPEndPoint address);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Mesh TCP listener for {Service}/{Port} on {Address} stopped")]
    private static partial void LogStopped(ILogger logger, string service, string port, IPEndPoint address);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Debug, Message = "Mesh TCP listener for {Service}/{Port} now has {Count} endpoints ({Policy})")]
    private static partial void LogEndpointsUpdated(ILogger logger, string service, string port, int count, string policy);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "{Service}/{Port}: endpoint {Endpoint} failed to connect ({Reason}); set aside for {Seconds}s")]
    private static partial void LogEndpointSetAside(ILogger logger, string service, string port, MeshEndpoint endpoint, string reason, double seconds);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Debug, Message = "{Service}/{Port}: endpoint {Endpoint} failed to connect again ({Reason}); set aside for {Seconds}s")]
    private static partial void LogEndpointStillFailing(ILogger logger, string service, string port, MeshEndpoint endpoint, string reason, double seconds);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Information, Message = "{Service}/{Port}: endpoint {Endpoint} connects again; back in use")]
    private static partial void LogEndpointRecovered(ILogger logger, string service, string port, MeshEndpoint endpoint);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Debug, Message = "{Service}/{Port}: connection closed at once: the port has no endpoints")]
    private static partial void LogNoEndpoints(ILogger logger, string service, string port);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Warning, Message = "{Service}/{Port}: connection closed: none of its {Count} endpoints accepted a connect")]
    private static partial void LogNoEndpointAnswered(ILogger logger, string service, string port, int count);

    [LoggerMessage(EventId = 4108, Level = LogLevel.Warning, Message = "Mesh TCP listener for {Service}/{Port} failed to accept a connection ({Error}); retrying")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception, string service, string port, SocketError error);

    [LoggerMessage(EventId = 4109, Level = LogLevel.Debug, Message = "{Service}/{Port}: connection ended with an error")]
    private static partial void LogConnectionFailed(ILogger logger, Exception exception, string service, string port);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Warning, Message = "Mesh TCP listener for {Service}/{Port} closing {Count} connections still open after the {Seconds}s shutdown grace period")]
    private static partial void LogCuttingConnections(ILogger logger, string service, string port, int count, double seconds);
}
