using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Orchestrator.ControlPlane.Hosting;

/// <summary>
/// The two endpoints a control plane listens on, as bound (a configured port 0 reads as
/// the port the OS picked once the app has started). See docs/adr/0004-grpc-and-http-ports.md.
/// </summary>
public sealed class ControlPlaneEndpoints
{
    internal ListenOptions? GrpcListen { get; set; }

    internal ListenOptions? HttpListen { get; set; }

    /// <summary>The gRPC endpoint (HTTP/2 only, h2c). Valid after the app has started.</summary>
    public IPEndPoint Grpc => GrpcListen?.IPEndPoint ?? throw NotStarted();

    /// <summary>The HTTP/1.1 endpoint (/healthz, /readyz, /metrics). Valid after the app has started.</summary>
    public IPEndPoint Http => HttpListen?.IPEndPoint ?? throw NotStarted();

    /// <summary>A URL clients can dial for gRPC, e.g. <c>http://127.0.0.1:7070</c> (a wildcard address is dialled on loopback).</summary>
    public Uri GrpcUrl => Dialable(Grpc);

    /// <summary>The gRPC URL, or null before the app has started.</summary>
    public Uri? TryGrpcUrl() => GrpcListen?.IPEndPoint is { } endpoint ? Dialable(endpoint) : null;

    /// <summary>A URL for the HTTP/1.1 endpoint, e.g. <c>http://127.0.0.1:7071</c>.</summary>
    public Uri HttpUrl => Dialable(Http);

    private static Uri Dialable(IPEndPoint endpoint)
    {
        var address = endpoint.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : endpoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : endpoint.Address;
        return new Uri($"http://{new IPEndPoint(address, endpoint.Port)}");
    }

    private static InvalidOperationException NotStarted() =>
        new("the control plane has not started yet; read its endpoints after StartAsync");
}
