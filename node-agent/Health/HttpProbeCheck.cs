using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Orchestrator.NodeAgent.Health;

/// <summary>
/// <c>GET http://address:port/path</c>; success is a status from 200 to 399. Every request asks
/// for <c>Connection: close</c>, so each check opens its own connection (as the kubelet does): a
/// server that accepts but never answers is caught by the timeout, not hidden behind a pooled
/// connection that once worked.
/// </summary>
public sealed class HttpProbeCheck : IProbeCheck
{
    private readonly HttpClient _client;
    private readonly Uri _uri;

    public HttpProbeCheck(HttpClient client, string address, int port, string path, string portName)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(path);
        _client = client;
        var normalized = path.StartsWith('/') ? path : "/" + path;
        var host = IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address;
        _uri = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{host}:{port}{normalized}"));
        Description = $"http GET {normalized} on port {portName}";
    }

    public string Description { get; }

    /// <summary>
    /// One client for every http probe of the agent: no proxy, no redirects followed (a 3xx is a
    /// success), no client-wide timeout (each check has its own).
    /// </summary>
    public static HttpClient CreateSharedClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.Zero,
        ConnectTimeout = Timeout.InfiniteTimeSpan,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async Task<ProbeResult> CheckAsync(CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _uri);
        request.Headers.ConnectionClose = true;
        request.Headers.UserAgent.ParseAdd("orc-probe/1");
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 400
                ? ProbeResult.Passed
                : ProbeResult.Failed(string.Create(CultureInfo.InvariantCulture, $"status {status}"));
        }
        catch (HttpRequestException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return ProbeResult.Failed(SocketFailure.Describe(ex));
        }
    }
}

/// <summary>Short, lower-case words for why a connection failed.</summary>
internal static class SocketFailure
{
    public static string Describe(Exception ex)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.ConnectionReset => "connection reset",
                    SocketError.HostUnreachable => "host unreachable",
                    SocketError.NetworkUnreachable => "network unreachable",
                    SocketError.TimedOut => "connection timed out",
                    _ => socket.Message,
                };
            }
        }

        return ex.InnerException is { } cause ? $"{ex.Message} ({cause.Message})" : ex.Message;
    }
}
