using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Tcp;

namespace Orchestrator.Bench;

/// <summary>
/// The routing mesh's TCP listener against a direct connection (the baseline) on 127.0.0.1: bytes/s
/// of one bulk transfer to a sink, and connections/s of short request/response connections to an
/// echo from several clients at once. Client, listener and backends share the process and its
/// cores, so the ratio includes the listener's CPU cost competing with both ends. Rounds interleave
/// direct and proxied runs so a noisy neighbour hurts both alike.
/// </summary>
internal static class TcpProxyBench
{
    private const long TransferBytes = 512L * 1024 * 1024;
    private const int ConnectionsPerRound = 1000;
    private const int Clients = 8;
    private const int Rounds = 3;
    private const int ChunkBytes = 256 * 1024;
    private const int LargeBuffer = 128 * 1024;

    public static async Task RunAsync(Report report)
    {
        Console.WriteLine($"tcp-proxy: {Rounds} rounds of a {TransferBytes >> 20} MiB transfer and {ConnectionsPerRound} connections from {Clients} clients, direct and through TcpProxyListener");
        await using var sink = Backend.Start(SinkAsync);
        await using var echo = Backend.Start(EchoOnceAsync);
        await using var sinkProxy = Proxy("sink", sink.Port, new TcpProxyOptions());
        await using var sinkProxyLarge = Proxy("sink-large", sink.Port, new TcpProxyOptions { BufferSize = LargeBuffer });
        await using var echoProxy = Proxy("echo", echo.Port, new TcpProxyOptions());

        // Warm-up: JIT, the buffer pool, the kernel's socket caches.
        await TransferAsync(sink.Address, 64L << 20);
        await TransferAsync(sinkProxy.LocalEndpoint, 64L << 20);
        await TransferAsync(sinkProxyLarge.LocalEndpoint, 64L << 20);
        await ConnectionsAsync(echo.Address, 200, new Latency());
        await ConnectionsAsync(echoProxy.LocalEndpoint, 200, new Latency());

        double directSeconds = 0, proxiedSeconds = 0, largeSeconds = 0, directConnSeconds = 0, proxiedConnSeconds = 0;
        var directLatency = new Latency();
        var proxiedLatency = new Latency();
        for (var round = 0; round < Rounds; round++)
        {
            directSeconds += await TransferAsync(sink.Address, TransferBytes);
            proxiedSeconds += await TransferAsync(sinkProxy.LocalEndpoint, TransferBytes);
            largeSeconds += await TransferAsync(sinkProxyLarge.LocalEndpoint, TransferBytes);
            directConnSeconds += await ConnectionsAsync(echo.Address, ConnectionsPerRound, directLatency);
            proxiedConnSeconds += await ConnectionsAsync(echoProxy.LocalEndpoint, ConnectionsPerRound, proxiedLatency);
        }

        var mib = (double)(TransferBytes * Rounds) / (1 << 20);
        var directRate = mib / directSeconds;
        var proxiedRate = mib / proxiedSeconds;
        report.Add(new ValueRow("tcp-proxy bytes/s, 1 connection", "direct", directRate, "MiB/s", "", null));
        var largeRate = mib / largeSeconds;
        report.Add(new ValueRow("tcp-proxy bytes/s, 1 connection", "through TcpProxyListener", proxiedRate, "MiB/s", "direct", proxiedRate / directRate, "32 KiB buffers (default); higher is better"));
        report.Add(new ValueRow("tcp-proxy bytes/s, 1 connection", "through TcpProxyListener", largeRate, "MiB/s", "direct", largeRate / directRate, "128 KiB buffers; higher is better"));

        var scenario = $"tcp-proxy connections, {Clients} clients";
        var directOps = ConnectionsPerRound * Rounds / directConnSeconds;
        var proxiedOps = ConnectionsPerRound * Rounds / proxiedConnSeconds;
        report.Add(new Row(scenario, "direct", directOps, directLatency.P50, directLatency.P99, "", null, "connect, 1 byte each way, close"));
        report.Add(new Row(scenario, "through TcpProxyListener", proxiedOps, proxiedLatency.P50, proxiedLatency.P99, "direct", proxiedOps / directOps, "connect, 1 byte each way, close"));
    }

    private static TcpProxyListener Proxy(string port, int backendPort, TcpProxyOptions options)
    {
        var proxy = new TcpProxyListener("bench", port, new IPEndPoint(IPAddress.Loopback, 0), options, TimeProvider.System, NullLogger.Instance);
        proxy.Start();
        proxy.UpdateEndpoints([new MeshEndpoint($"{port}-0", "bench", "127.0.0.1", backendPort)], BalancingPolicy.RoundRobin);
        return proxy;
    }

    /// <summary>Seconds from connect until the sink acknowledged all <paramref name="bytes"/>.</summary>
    private static async Task<double> TransferAsync(IPEndPoint address, long bytes)
    {
        var chunk = new byte[ChunkBytes];
        Random.Shared.NextBytes(chunk);
        var start = Stopwatch.GetTimestamp();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(address);
        for (var left = bytes; left > 0;)
        {
            var size = (int)Math.Min(left, chunk.Length);
            left -= await SendAllAsync(socket, chunk.AsMemory(0, size));
        }

        socket.Shutdown(SocketShutdown.Send);
        var ack = new byte[8];
        if (await socket.ReceiveAsync(ack, SocketFlags.None) != 1)
        {
            throw new InvalidOperationException("the sink did not acknowledge the transfer");
        }

        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Seconds for <paramref name="count"/> short connections from <see cref="Clients"/> clients at once.</summary>
    private static async Task<double> ConnectionsAsync(IPEndPoint address, int count, Latency latency)
    {
        var next = 0;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => Task.Run(async () =>
        {
            var buffer = new byte[1];
            while (Interlocked.Increment(ref next) <= count)
            {
                var began = Stopwatch.GetTimestamp();
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(address);
                await socket.SendAsync(buffer, SocketFlags.None);
                if (await socket.ReceiveAsync(buffer, SocketFlags.None) != 1)
                {
                    throw new InvalidOperationException($"no echo from {address}");
                }

                socket.Shutdown(SocketShutdown.Send);
                await socket.ReceiveAsync(buffer, SocketFlags.None);
                latency.Record(began);
            }
        })));
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static async Task SinkAsync(Socket socket)
    {
        var buffer = new byte[ChunkBytes];
        while (await socket.ReceiveAsync(buffer, SocketFlags.None) > 0)
        {
        }

        await socket.SendAsync(new byte[1], SocketFlags.None);
        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task EchoOnceAsync(Socket socket)
    {
        socket.NoDelay = true;
        var buffer = new byte[16];
        var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
        if (read > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
        }

        while (await socket.ReceiveAsync(buffer, SocketFlags.None) > 0)
        {
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task<int> SendAllAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        var total = data.Length;
        while (!data.IsEmpty)
        {
            data = data[await socket.SendAsync(data, SocketFlags.None)..];
        }

        return total;
    }

    /// <summary>A loopback server that runs <c>handle</c> on each accepted connection.</summary>
    private sealed class Backend : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly Task _loop;

        private Backend(Func<Socket, Task> handle)
        {
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(512);
            Address = (IPEndPoint)_listener.LocalEndPoint!;
            _loop = AcceptAsync(handle);
        }

        public IPEndPoint Address { get; }

        public int Port => Address.Port;

        public static Backend Start(Func<Socket, Task> handle) => new(handle);

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _loop;
        }

        private async Task AcceptAsync(Func<Socket, Task> handle)
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync();
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using (socket)
                    {
                        try
                        {
                            await handle(socket);
                        }
                        catch (SocketException)
                        {
                            // The client went away; the measurement notices on its side.
                        }
                    }
                });
            }
        }
    }
}
