using System.Net;

namespace Orchestrator.NodeAgent.Proxy;

/// <summary>
/// Serves the HTTP routes of the mesh (<see cref="Http.YarpHttpMesh"/>): all of them at once, so it
/// can bind, keep and unbind ports itself.
/// </summary>
public interface IHttpMesh : IAsyncDisposable
{
    /// <summary>
    /// Serves exactly <paramref name="routes"/> from now on and returns once they are in effect; ports
    /// it keeps are not touched. Returns the published ports it could not bind, each with why; those
    /// routes are not served, and the next call tries them again.
    /// </summary>
    ValueTask<IReadOnlyDictionary<int, string>> ApplyAsync(IReadOnlyCollection<MeshRoute> routes, CancellationToken cancellationToken);
}

/// <summary>
/// Opens the listener of one published TCP port (the seam for <c>Proxy/Tcp/</c>'s per-port proxy).
/// </summary>
public interface ITcpListenerFactory
{
    /// <summary>
    /// Binds <paramref name="address"/>:<c>route.Published</c> and starts forwarding connections to the
    /// route's endpoints; null when this agent serves no TCP routes. A port that cannot be bound throws
    /// <see cref="System.Net.Sockets.SocketException"/> or <see cref="IOException"/>.
    /// </summary>
    ValueTask<ITcpRouteListener?> OpenAsync(IPAddress address, MeshRoute route, CancellationToken cancellationToken);
}

/// <summary>One open published TCP port.</summary>
public interface ITcpRouteListener : IAsyncDisposable
{
    /// <summary>New endpoints or balancing for the same port; connections already open stay where they are.</summary>
    void Update(MeshRoute route);
}

/// <summary>
/// A mesh without a TCP side (tests of the HTTP side): opens nothing, so TCP routes are logged as
/// not served and their published ports stay closed. The agent registers
/// <see cref="Tcp.TcpMeshListenerFactory"/> instead.
/// </summary>
public sealed class UnservedTcpListenerFactory : ITcpListenerFactory
{
    public static UnservedTcpListenerFactory Instance { get; } = new();

    public ValueTask<ITcpRouteListener?> OpenAsync(IPAddress address, MeshRoute route, CancellationToken cancellationToken) => ValueTask.FromResult<ITcpRouteListener?>(null);
}
