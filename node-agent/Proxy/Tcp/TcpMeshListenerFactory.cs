using System.Net;
using Microsoft.Extensions.Logging;

namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>
/// The mesh's TCP side: one <see cref="TcpProxyListener"/> per published TCP port, bound on the
/// node's address, fed the route's endpoints and balancing on every change.
/// </summary>
public sealed class TcpMeshListenerFactory(TcpProxyOptions options, MeshMetrics? metrics, TimeProvider time, ILoggerFactory loggers) : ITcpListenerFactory
{
    public ValueTask<ITcpRouteListener?> OpenAsync(IPAddress address, MeshRoute route, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(route);
        var listener = new TcpProxyListener(route.Service, route.Port, new IPEndPoint(address, route.Published), options, time, loggers.CreateLogger<TcpProxyListener>(), metrics);
        try
        {
            listener.UpdateEndpoints(route.Endpoints, route.Balancing);
            listener.Start();
        }
        catch
        {
            listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        return ValueTask.FromResult<ITcpRouteListener?>(new RouteListener(listener));
    }

    private sealed class RouteListener(TcpProxyListener listener) : ITcpRouteListener
    {
        public void Update(MeshRoute route) => listener.UpdateEndpoints(route.Endpoints, route.Balancing);

        public ValueTask DisposeAsync() => listener.DisposeAsync();
    }
}
