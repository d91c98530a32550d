using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Tcp;
using Orchestrator.NodeAgent.Tests.Health;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

/// <summary>
/// The listener over real sockets on 127.0.0.1: real backends, real clients, a fake clock for the
/// passive-health and shutdown timers. Every socket call carries a token that gives up after 30 s,
/// so a broken proxy fails a test instead of hanging it; no assertion depends on how long anything took.
/// </summary>
public sealed class TcpProxyListenerTests : IAsyncDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly MeshMetricsRecorder _metrics = new();
    private readonly CancellationTokenSource _timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<Socket> _clients = [];

    public TcpProxyListenerTests() => _timeout.CancelAfter(TimeSpan.FromSeconds(30));

    private CancellationToken Ct => _timeout.Token;

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        _metrics.Dispose();
        _timeout.Dispose();
    }

    [Fact]
    public async Task Connections_spread_round_robin_across_the_endpoints()
    {
        var backends = new[] { Backend(TestBackend.Echo()), Backend(TestBackend.Echo()), Backend(TestBackend.Echo()) };
        var proxy = Listener();
        proxy.UpdateEndpoints([backends[0].Endpoint("web-0"), backends[1].Endpoint("web-1"), backends[2].Endpoint("web-2")], BalancingPolicy.RoundRobin);

        for (var i = 0; i < 9; i++)
        {
            using var client = await ConnectAsync(proxy);
            Assert.Equal($"hello {i}", await EchoAsync(client, $"hello {i}"));
        }

        Assert.Equal([3, 3, 3], backends.Select(b => b.Accepted));
    }

    [Fact]
    public async Task A_closed_endpoint_is_set_aside_and_every_connection_still_succeeds()
    {
        var a = Backend(TestBackend.Echo());
        var c = Backend(TestBackend.Echo());
        var closed = new MeshEndpoint("web-b", "node-1", "127.0.0.1", FreePort.Next());
        var proxy = Listener();
        proxy.UpdateEndpoints([a.Endpoint("web-a"), closed, c.Endpoint("web-c")], BalancingPolicy.RoundRobin);

        for (var i = 0; i < 6; i++)
        {
            using var client = await ConnectAsync(proxy);
            Assert.Equal("ping", await EchoAsync(client, "ping"));
        }

        // Tried once, by the second connection, which fell back; set aside since, on the frozen clock.
        Assert.Equal(1, _metrics.Errors("connect-refused"));
        Assert.Equal(6, a.Accepted + c.Accepted);
        var status = proxy.GetEndpointStatus().Single(s => s.Endpoint == closed);
        Assert.Equal(1, status.Failures);
        Assert.Equal(TimeSpan.FromSeconds(5), status.SetAsideFor);

        // Its time up, it is tried again, fails again, and is set aside for twice as long.
        _time.Advance(TimeSpan.FromSeconds(5));
        for (var i = 0; i < 3; i++)
        {
            using var client = await ConnectAsync(proxy);
            Assert.Equal("ping", await EchoAsync(client, "ping"));
        }

        Assert.Equal(2, _metrics.Errors("connect-refused"));
        status = proxy.GetEndpointStatus().Single(s => s.Endpoint == closed);
        Assert.Equal(2, status.Failures);
        Assert.Equal(TimeSpan.FromSeconds(10), status.SetAsideFor);
    }

    [Fact]
    public async Task A_connect_that_times_out_falls_back_and_sets_the_endpoint_aside()
    {
        var (silent, fillers) = await SilentEndpointAsync();
        using var silentListener = silent;
        var echo = Backend(TestBackend.Echo());
        var silentEndpoint = new MeshEndpoint("web-silent", "node-1", "127.0.0.1", ((IPEndPoint)silent.LocalEndPoint!).Port);
        var proxy = Listener();
        proxy.UpdateEndpoints([silentEndpoint, echo.Endpoint("web-echo")], BalancingPolicy.RoundRobin);

        using var client = await ConnectAsync(proxy);
        var reply = EchoAsync(client, "late");

        // The proxy's connect to the silent endpoint waits for its 5 s on the fake clock.
        await Eventually.WaitUntilAsync(() => proxy.GetEndpointStatus()[0].OpenConnections == 1, "the proxy is connecting to the silent endpoint");
        while (!reply.IsCompleted)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            await Task.WhenAny(reply, Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, Ct));
        }

        Assert.Equal("late", await reply);
        Assert.Equal(1, _metrics.Errors("connect-timeout"));
        Assert.Equal(1, proxy.GetEndpointStatus()[0].Failures);
        foreach (var filler in fillers)
        {
            filler.Dispose();
        }
    }

    [Fact]
    public async Task When_every_endpoint_refuses_the_client_is_closed_and_each_was_tried_once()
    {
        var proxy = Listener();
        proxy.UpdateEndpoints(
            [new MeshEndpoint("web-1", "node-1", "127.0.0.1", FreePort.Next()), new MeshEndpoint("web-2", "node-1", "127.0.0.1", FreePort.Next())],
            BalancingPolicy.LeastRequests);

        await AssertRefusedAsync(proxy);

        Assert.Equal(2, _metrics.Errors("connect-refused"));
        await Eventually.WaitUntilAsync(() => _metrics.Completed("failed") == 1, "the connection is counted as failed");
    }

    [Fact]
    public async Task A_recovered_endpoint_is_back_in_use_after_a_success()
    {
        var port = FreePort.Next();
        var endpoint = new MeshEndpoint("web-1", "node-1", "127.0.0.1", port);
        var proxy = Listener();
        proxy.UpdateEndpoints([endpoint], BalancingPolicy.RoundRobin);
        await AssertRefusedAsync(proxy);
        await Eventually.WaitUntilAsync(() => _metrics.Completed("failed") == 1, "the refused connection ended");

        Assert.Equal(1, proxy.GetEndpointStatus()[0].Failures);

        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();

        // Set aside, but the only endpoint left: it is still tried, and its success resets its health.
        using var client = await ConnectAsync(proxy);
        using var accepted = await listener.AcceptSocketAsync(Ct);
        await Eventually.WaitUntilAsync(() => proxy.GetEndpointStatus()[0].Failures == 0, "the endpoint's success is recorded");
        Assert.Equal(TimeSpan.Zero, proxy.GetEndpointStatus()[0].SetAsideFor);
    }

    [Fact]
    public async Task A_long_lived_connection_survives_endpoint_changes_and_the_removal_of_its_own_endpoint()
    {
        var a = Backend(TestBackend.Echo());
        var b = Backend(TestBackend.Echo());
        var c = Backend(TestBackend.Echo());
        var proxy = Listener();
        proxy.UpdateEndpoints([a.Endpoint("web-a"), b.Endpoint("web-b")], BalancingPolicy.RoundRobin);

        using var longLived = await ConnectAsync(proxy);
        Assert.Equal("one", await EchoAsync(longLived, "one"));
        Assert.Equal(1, a.Accepted);

        // An unrelated change: c added, b removed.
        proxy.UpdateEndpoints([a.Endpoint("web-a"), c.Endpoint("web-c")], BalancingPolicy.RoundRobin);
        Assert.Equal("two", await EchoAsync(longLived, "two"));

        // Its own endpoint removed (a draining replica): new connections go elsewhere, it stays.
        proxy.UpdateEndpoints([c.Endpoint("web-c")], BalancingPolicy.RoundRobin);
        using (var other = await ConnectAsync(proxy))
        {
            Assert.Equal("new", await EchoAsync(other, "new"));
        }

        Assert.Equal("three", await EchoAsync(longLived, "three"));
        Assert.Equal(1, a.Accepted);
        Assert.Equal(1, c.Accepted);

        longLived.Shutdown(SocketShutdown.Send);
        await AssertEndOfStreamAsync(longLived);
        await Eventually.WaitUntilAsync(() => _metrics.Completed("closed") == 2, "both connections are counted as closed");
        Assert.Equal(0, _metrics.Active);
    }

    [Fact]
    public async Task A_half_closed_client_still_receives_the_backends_reply()
    {
        var backend = Backend(TestBackend.CountThenReply());
        var proxy = Listener();
        proxy.UpdateEndpoints([backend.Endpoint("db-0")], BalancingPolicy.RoundRobin);

        using var client = await ConnectAsync(proxy);
        await SendAllAsync(client, new byte[1000]);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("1000 bytes", await ReadToEndAsync(client));
    }

    [Fact]
    public async Task Sixty_four_mebibytes_arrive_byte_exact()
    {
        var backend = Backend(TestBackend.Echo());
        var proxy = Listener();
        proxy.UpdateEndpoints([backend.Endpoint("blob-0")], BalancingPolicy.RoundRobin);
        var data = new byte[64 * 1024 * 1024];
        new Random(64).NextBytes(data);

        using var client = await ConnectAsync(proxy);
        var sending = Task.Run(async () =>
        {
            await SendAllAsync(client, data);
            client.Shutdown(SocketShutdown.Send);
        }, Ct);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long received = 0;
        int read;
        while ((read = await client.ReceiveAsync(buffer, SocketFlags.None, Ct)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            received += read;
        }

        await sending;
        Assert.Equal(data.LongLength, received);
        Assert.Equal(SHA256.HashData(data), hash.GetHashAndReset());
    }

    [Fact]
    public async Task A_backend_reset_resets_the_client_and_is_counted()
    {
        var backend = Backend(TestBackend.ResetAfterFirstRead());
        var proxy = Listener();
        proxy.UpdateEndpoints([backend.Endpoint("web-0")], BalancingPolicy.RoundRobin);

        using var client = await ConnectAsync(proxy);
        await SendAllAsync(client, "x"u8.ToArray());

        var ex = await Assert.ThrowsAsync<SocketException>(async () => await client.ReceiveAsync(new byte[16], SocketFlags.None, Ct));
        Assert.Equal(SocketError.ConnectionReset, ex.SocketErrorCode);
        await Eventually.WaitUntilAsync(() => _metrics.Errors("reset") == 1, "the reset is counted");
    }

    [Fact]
    public async Task Without_endpoints_a_connection_is_closed_at_once_and_counted()
    {
        var proxy = Listener();

        await AssertRefusedAsync(proxy);

        Assert.Equal(1, _metrics.Errors("no-endpoints"));
    }

    [Fact]
    public async Task Dispose_stops_accepting_and_closes_the_listening_socket()
    {
        var backend = Backend(TestBackend.Echo());
        var proxy = new TcpProxyListener("web", "http", new IPEndPoint(IPAddress.Loopback, 0), new TcpProxyOptions(), _time, NullLogger.Instance, _metrics.Metrics);
        proxy.Start();
        proxy.UpdateEndpoints([backend.Endpoint("web-0")], BalancingPolicy.RoundRobin);
        var address = proxy.LocalEndpoint;
        using (var client = await ConnectAsync(address))
        {
            Assert.Equal("hi", await EchoAsync(client, "hi"));
        }

        await Eventually.FinishesAsync(proxy.DisposeAsync().AsTask(), "the listener to stop");

        var ex = await Assert.ThrowsAsync<SocketException>(async () => await ConnectAsync(address));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        using var rebound = new TcpListener(address);
        rebound.Start();
    }

    [Fact]
    public async Task Dispose_lets_open_connections_finish_within_the_grace_period_then_closes_them()
    {
        var backend = Backend(TestBackend.Echo());
        var grace = TimeSpan.FromSeconds(10);
        var proxy = new TcpProxyListener("web", "http", new IPEndPoint(IPAddress.Loopback, 0), new TcpProxyOptions { ShutdownGracePeriod = grace }, _time, NullLogger.Instance, _metrics.Metrics);
        proxy.Start();
        proxy.UpdateEndpoints([backend.Endpoint("web-0")], BalancingPolicy.RoundRobin);
        using var client = await ConnectAsync(proxy.LocalEndpoint);
        Assert.Equal("before", await EchoAsync(client, "before"));

        var disposing = proxy.DisposeAsync().AsTask();

        // Not accepting any more, but the open connection keeps working during the grace period.
        await Eventually.WaitUntilAsync(() => !CanConnect(proxy.LocalEndpoint), "the listening socket is closed");
        Assert.Equal("during", await EchoAsync(client, "during"));
        Assert.False(disposing.IsCompleted);

        // The grace period ends (the timer is armed once the accept loop stopped; advancing again is harmless).
        while (!disposing.IsCompleted)
        {
            _time.Advance(grace);
            await Task.WhenAny(disposing, Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, Ct));
        }

        await disposing;
        await AssertClosedAsync(client);
        Assert.Equal(0, proxy.OpenConnections);
    }

    [Fact]
    public async Task Dispose_returns_as_soon_as_the_last_connection_ends()
    {
        var backend = Backend(TestBackend.Echo());
        var proxy = new TcpProxyListener("web", "http", new IPEndPoint(IPAddress.Loopback, 0), new TcpProxyOptions { ShutdownGracePeriod = TimeSpan.FromMinutes(10) }, _time, NullLogger.Instance, _metrics.Metrics);
        proxy.Start();
        proxy.UpdateEndpoints([backend.Endpoint("web-0")], BalancingPolicy.RoundRobin);
        var client = await ConnectAsync(proxy.LocalEndpoint);
        Assert.Equal("x", await EchoAsync(client, "x"));

        var disposing = proxy.DisposeAsync().AsTask();
        client.Shutdown(SocketShutdown.Send);
        await AssertEndOfStreamAsync(client);
        client.Dispose();

        // No clock advance: the connection's end, not the grace period, lets dispose finish.
        await Eventually.FinishesAsync(disposing, "dispose after the last connection closed");
    }

    [Fact]
    public async Task Start_on_an_address_in_use_names_the_address()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var address = (IPEndPoint)taken.LocalEndpoint;
        await using var proxy = new TcpProxyListener("db", "pg", address, new TcpProxyOptions(), _time, NullLogger.Instance);

        var ex = Assert.Throws<TcpProxyBindException>(proxy.Start);

        Assert.Equal(SocketError.AddressAlreadyInUse, ex.Error);
        Assert.Contains(address.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Contains("db/pg", ex.Message, StringComparison.Ordinal);
        Assert.Contains("already in use", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_endpoints_are_refused_with_every_problem_and_change_nothing()
    {
        var backend = Backend(TestBackend.Echo());
        var proxy = Listener();
        proxy.UpdateEndpoints([backend.Endpoint("web-0")], BalancingPolicy.RoundRobin);

        var ex = Assert.Throws<ArgumentException>(() => proxy.UpdateEndpoints(
            [
                new MeshEndpoint("web-1", "node-1", "127.0.0.1", 0),
                new MeshEndpoint("web-2", "node-1", "not an address", 80),
                new MeshEndpoint("web-3", "node-1", "127.0.0.1", backend.Port),
                new MeshEndpoint("web-4", "node-1", "127.0.0.1", backend.Port),
            ],
            BalancingPolicy.LeastRequests));

        Assert.Contains("web-1) has port 0; give a port from 1 to 65535", ex.Message, StringComparison.Ordinal);
        Assert.Contains("web-2) has address \"not an address\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"web-4) repeats 127.0.0.1:{backend.Port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("keeps its 1 current endpoints", ex.Message, StringComparison.Ordinal);
        Assert.Equal([backend.Endpoint("web-0")], proxy.GetEndpointStatus().Select(s => s.Endpoint));
        Assert.Equal(BalancingPolicy.RoundRobin, proxy.Policy);
        using var client = await ConnectAsync(proxy);
        Assert.Equal("still", await EchoAsync(client, "still"));
    }

    [Fact]
    public async Task Least_requests_sends_a_new_connection_to_the_endpoint_with_fewer_open()
    {
        var a = Backend(TestBackend.Echo());
        var b = Backend(TestBackend.Echo());
        var proxy = Listener();
        proxy.UpdateEndpoints([a.Endpoint("web-a"), b.Endpoint("web-b")], BalancingPolicy.LeastRequests);

        var open = new List<Socket>();
        for (var i = 0; i < 4; i++)
        {
            var client = await ConnectAsync(proxy);
            Assert.Equal("hold", await EchoAsync(client, "hold"));
            open.Add(client);
        }

        Assert.Equal([2, 2], proxy.GetEndpointStatus().Select(s => s.OpenConnections));
        Assert.Equal(4, proxy.OpenConnections);
        Assert.Equal((2, 2), (a.Accepted, b.Accepted));
    }

    [Fact]
    public async Task A_listener_starts_once_and_not_after_dispose()
    {
        var proxy = Listener();

        Assert.Throws<InvalidOperationException>(proxy.Start);
        await proxy.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(proxy.Start);
        proxy.UpdateEndpoints([new MeshEndpoint("web-0", "node-1", "127.0.0.1", 20000)], BalancingPolicy.RoundRobin);
        Assert.Empty(proxy.GetEndpointStatus());
    }

    [Fact]
    public void Bad_options_are_refused_with_the_fix()
    {
        var ex = Assert.Throws<ArgumentException>(() => new TcpProxyListener(
            "web", "http", new IPEndPoint(IPAddress.Loopback, 0), new TcpProxyOptions { BufferSize = 10 }, _time, NullLogger.Instance));

        Assert.Contains("web/http", ex.Message, StringComparison.Ordinal);
        Assert.Contains("BufferSize is 10; give at least 1024 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SocketError.ConnectionRefused, "connect-refused")]
    [InlineData(SocketError.TimedOut, "connect-timeout")]
    [InlineData(SocketError.HostUnreachable, "connect-unreachable")]
    [InlineData(SocketError.NetworkUnreachable, "connect-unreachable")]
    [InlineData(SocketError.HostNotFound, "connect-failed")]
    public void Connect_failures_are_counted_by_reason(SocketError error, string reason)
    {
        Assert.Equal(reason, TcpProxyListener.ConnectFailure(error));
    }

    private TestBackend Backend(TestBackend backend)
    {
        _owned.Add(backend);
        return backend;
    }

    private TcpProxyListener Listener()
    {
        var proxy = new TcpProxyListener("web", "http", new IPEndPoint(IPAddress.Loopback, 0), new TcpProxyOptions { ShutdownGracePeriod = TimeSpan.Zero }, _time, NullLogger.Instance, _metrics.Metrics);
        _owned.Add(proxy);
        proxy.Start();
        return proxy;
    }

    private Task<Socket> ConnectAsync(TcpProxyListener proxy) => ConnectAsync(proxy.LocalEndpoint);

    private async Task<Socket> ConnectAsync(IPEndPoint address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _clients.Add(socket);
        await socket.ConnectAsync(address, Ct);
        return socket;
    }

    /// <summary>
    /// A listener on 127.0.0.1 whose accept queue is full, so the kernel drops new connects (SYNs)
    /// and they hang until their timeout: an endpoint that neither accepts nor refuses, without
    /// sending traffic anywhere but loopback. The connects that filled the queue are returned to dispose.
    /// </summary>
    private async Task<(Socket Listener, List<Socket> Fillers)> SilentEndpointAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var fillers = new List<Socket>();
        for (var i = 0; i < 16; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            fillers.Add(filler);
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            attempt.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                await filler.ConnectAsync(listener.LocalEndPoint!, attempt.Token);
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                // This connect got no answer: the queue is full.
                return (listener, fillers);
            }
        }

        Assert.Fail("a listener with a backlog of 1 kept accepting connects; cannot build a silent endpoint here");
        throw new InvalidOperationException();
    }

    private static bool CanConnect(IPEndPoint address)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(address);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private Task<string> EchoAsync(Socket client, string text) => TestBackend.RoundTripAsync(client, text, Ct);

    private async Task SendAllAsync(Socket client, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[await client.SendAsync(data, SocketFlags.None, Ct)..];
        }
    }

    private async Task<string> ReadToEndAsync(Socket client)
    {
        using var received = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await client.ReceiveAsync(buffer, SocketFlags.None, Ct)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(received.ToArray());
    }

    private async Task AssertEndOfStreamAsync(Socket client) =>
        Assert.Equal(0, await client.ReceiveAsync(new byte[16], SocketFlags.None, Ct));

    /// <summary>
    /// The proxy closed a new connection it could not forward: the reset may already arrive while the
    /// client's connect completes, or on its first read.
    /// </summary>
    private async Task AssertRefusedAsync(TcpProxyListener proxy)
    {
        Socket client;
        try
        {
            client = await ConnectAsync(proxy);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return;
        }

        await AssertClosedAsync(client);
    }

    /// <summary>The proxy closed the client: an orderly end or a reset, with no data.</summary>
    private async Task AssertClosedAsync(Socket client)
    {
        try
        {
            Assert.Equal(0, await client.ReceiveAsync(new byte[16], SocketFlags.None, Ct));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // The proxy closes what it cannot forward with a reset.
        }
    }
}
