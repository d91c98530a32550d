using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Orchestrator.NodeAgent.Proxy;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

/// <summary>A real TCP server on 127.0.0.1 and a free port that plays a replica behind the proxy.</summary>
internal sealed class TestBackend : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<Socket, Task> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Socket> _sockets = [];
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _acceptLoop;
    private int _accepted;

    private TestBackend(Func<Socket, Task> handler)
    {
        _handler = handler;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>Connections this backend accepted.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Sends back every byte it receives; passes the client's end on as its own.</summary>
    public static TestBackend Echo() => new(EchoAsync);

    /// <summary>Reads until the client's end, then answers "N bytes" and closes: it can answer only if half-close works.</summary>
    public static TestBackend CountThenReply() => new(CountThenReplyAsync);

    /// <summary>Reads once, then resets the connection.</summary>
    public static TestBackend ResetAfterFirstRead() => new(ResetAsync);

    public MeshEndpoint Endpoint(string replica) => new(replica, "node-1", "127.0.0.1", Port);

    /// <summary>Sends <paramref name="text"/> on <paramref name="client"/> and reads as many bytes back (from an echo behind it).</summary>
    public static async Task<string> RoundTripAsync(Socket client, string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var sent = 0; sent < bytes.Length;)
        {
            sent += await client.SendAsync(bytes.AsMemory(sent), SocketFlags.None, cancellationToken);
        }

        var reply = new byte[bytes.Length];
        var got = 0;
        while (got < reply.Length)
        {
            var read = await client.ReceiveAsync(reply.AsMemory(got), SocketFlags.None, cancellationToken);
            Assert.True(read > 0, $"the connection ended after {got} of {reply.Length} echoed bytes");
            got += read;
        }

        return Encoding.UTF8.GetString(reply);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        try
        {
            await _acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }

        await Task.WhenAll(_connections);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _sockets.Add(socket);
            _connections.Add(Task.Run(async () =>
            {
                try
                {
                    await _handler(socket);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // The peer went away or the backend is being disposed.
                }
                finally
                {
                    socket.Dispose();
                }
            }));
        }
    }

    private static async Task EchoAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (read == 0)
            {
                socket.Shutdown(SocketShutdown.Send);
                return;
            }

            await SendAllAsync(socket, buffer.AsMemory(0, read));
        }
    }

    private static async Task CountThenReplyAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
        {
            total += read;
        }

        await SendAllAsync(socket, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{total} bytes")));
        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task ResetAsync(Socket socket)
    {
        await socket.ReceiveAsync(new byte[16], SocketFlags.None);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None);
            data = data[sent..];
        }
    }
}
