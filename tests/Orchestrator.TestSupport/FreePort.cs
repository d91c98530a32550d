using System.Net;
using System.Net.Sockets;

namespace Orchestrator.TestSupport;

/// <summary>Ephemeral loopback ports for fixtures, so tests run in parallel without clashing.</summary>
public static class FreePort
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
