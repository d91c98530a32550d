using System.Net;
using System.Net.Sockets;

namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>A published port's listener could not bind its address; the message names the address and the fix.</summary>
public sealed class TcpProxyBindException : IOException
{
    public TcpProxyBindException(string message, IPEndPoint address, SocketError error, Exception innerException)
        : base(message, innerException)
    {
        Address = address;
        Error = error;
    }

    /// <summary>The address the listener asked for.</summary>
    public IPEndPoint Address { get; }

    /// <summary>Why the bind failed (<see cref="SocketError.AddressAlreadyInUse"/> when another process holds the port).</summary>
    public SocketError Error { get; }
}

/// <summary>One endpoint of a listener as it stands: connections open through it and its passive health.</summary>
/// <param name="Endpoint">The endpoint.</param>
/// <param name="OpenConnections">Connections through this listener that use it (connects in progress included).</param>
/// <param name="Failures">Connect failures in a row since its last success.</param>
/// <param name="SetAsideFor">How much longer it is set aside; zero when it is in use.</param>
public sealed record TcpEndpointStatus(MeshEndpoint Endpoint, int OpenConnections, int Failures, TimeSpan SetAsideFor);
