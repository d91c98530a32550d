using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Orchestrator.NodeAgent.Tests.Health;

/// <summary>
/// A loopback HTTP/1.1 server on an ephemeral port that answers every request with one status, or
/// accepts connections and never answers (<see cref="Silent"/>). Records each request's head.
/// </summary>
internal sealed class TinyHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<TcpClient> _held = new();
    private readonly Task _accepting;
    private readonly int _status;
    private readonly string? _location;
    private readonly bool _silent;
    private int _connections;

    private TinyHttpServer(IPAddress address, int status, string? location, bool silent)
    {
        _status = status;
        _location = location;
        _silent = silent;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>How many connections the server accepted.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The head (request line and headers) of every request answered.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static TinyHttpServer Answering(int status, string? location = null, IPAddress? address = null) =>
        new(address ?? IPAddress.Loopback, status, location, silent: false);

    public static TinyHttpServer Silent() => new(IPAddress.Loopback, 0, null, silent: true);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        catch (SocketException)
        {
            // The listener was stopped under the accept.
        }

        while (_held.TryDequeue(out var client))
        {
            client.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            Interlocked.Increment(ref _connections);
            if (_silent)
            {
                _held.Enqueue(client);
                continue;
            }

            _ = AnswerAsync(client);
        }
    }

    private async Task AnswerAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = await ReadHeadAsync(stream, _stop.Token);
                Requests.Enqueue(head);
                var response = new StringBuilder()
                    .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {_status} Scripted\r\n")
                    .Append("Content-Length: 0\r\nConnection: close\r\n");
                if (_location is not null)
                {
                    response.Append(CultureInfo.InvariantCulture, $"Location: {_location}\r\n");
                }

                response.Append("\r\n");
                await stream.WriteAsync(Encoding.ASCII.GetBytes(response.ToString()), _stop.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
            {
                // The client went away or the server stopped.
            }
        }
    }

    private static async Task<string> ReadHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                return text;
            }
        }

        return Encoding.ASCII.GetString(buffer, 0, length);
    }
}
