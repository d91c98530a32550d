using System.Net;
using System.Net.Sockets;

namespace Orchestrator.NodeAgent.Tests.Proxy;

/// <summary>What a connect to a port of 127.0.0.1 finds, for the mesh's listener tests.</summary>
internal static class LoopbackPort
{
    /// <summary>True when nothing listens on <paramref name="port"/> (the connect is refused).</summary>
    public static bool Refuses(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(IPAddress.Loopback, port);
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
    }
}
