using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;

namespace Orchestrator.NodeAgent.Agent;

/// <summary>
/// One gRPC channel per control plane address, kept for the agent's lifetime. HTTP/2 keep-alive
/// pings notice a control plane that vanished without closing the connection (a VM that died),
/// so the stream fails and the agent moves on instead of waiting forever.
/// </summary>
public sealed class NodeApiChannels(TimeSpan? keepAlivePingTimeout = null) : IDisposable
{
    private readonly ConcurrentDictionary<Uri, GrpcChannel> _channels = new();
    private readonly TimeSpan _keepAlivePingTimeout = keepAlivePingTimeout ?? TimeSpan.FromSeconds(5);

    public CallInvoker Connect(Uri server) => _channels.GetOrAdd(server, Create).CreateCallInvoker();

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }

    private GrpcChannel Create(Uri server) => GrpcChannel.ForAddress(server, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = _keepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            EnableMultipleHttp2Connections = true,
        },
    });
}
