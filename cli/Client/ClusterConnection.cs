using Grpc.Core;
using Grpc.Net.Client;
using Orchestrator.V1;

namespace Orchestrator.Cli.Client;

/// <summary>
/// A gRPC channel to one control plane and the <see cref="Cluster.ClusterClient"/> on it.
/// Plain <c>http://</c> addresses speak HTTP/2 with prior knowledge (h2c): Grpc.Net.Client sends
/// every call as HTTP/2 with an exact version policy, which is what the control plane's HTTP/2-only
/// endpoint expects.
/// </summary>
public sealed class ClusterConnection : IDisposable
{
    private readonly GrpcChannel _channel;

    public ClusterConnection(Uri server, TimeSpan timeout)
    {
        Server = server;
        Timeout = timeout;
        _channel = GrpcChannel.ForAddress(server, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                // A dead address should fail fast with "connection refused"/"timed out", not use up the call deadline.
                ConnectTimeout = timeout < TimeSpan.FromSeconds(10) ? timeout : TimeSpan.FromSeconds(10),
                EnableMultipleHttp2Connections = true,
            },
            DisposeHttpClient = true,

            // A big cluster's lists (10,000 replicas with their placement explanations) exceed
            // gRPC's default 4 MB; the answer comes from the control plane we asked, so take it whole.
            MaxReceiveMessageSize = null,
        });
        Client = new Cluster.ClusterClient(_channel);
    }

    public Uri Server { get; }

    /// <summary>Deadline of each unary call.</summary>
    public TimeSpan Timeout { get; }

    public Cluster.ClusterClient Client { get; }

    /// <summary>Call options with the deadline for a unary call.</summary>
    /// <remarks>
    /// gRPC compares deadlines with the machine's real clock, so this one is taken from
    /// <see cref="TimeProvider.System"/> even when a test runs the CLI on a fixed clock for display.
    /// </remarks>
    public CallOptions Unary(CancellationToken cancellationToken) =>
        new(deadline: TimeProvider.System.GetUtcNow().UtcDateTime + Timeout, cancellationToken: cancellationToken);

    /// <summary>Call options for a stream that lasts until the user stops it.</summary>
    public static CallOptions Streaming(CancellationToken cancellationToken) => new(cancellationToken: cancellationToken);

    public void Dispose() => _channel.Dispose();
}
