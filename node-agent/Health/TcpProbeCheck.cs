using System.Net;
using System.Net.Sockets;

namespace Orchestrator.NodeAgent.Health;

/// <summary>Opens a TCP connection to <c>address:port</c>; success is a completed connect.</summary>
public sealed class TcpProbeCheck : IProbeCheck
{
    private readonly string _address;
    private readonly int _port;

    public TcpProbeCheck(string address, int port, string portName)
    {
        _address = address;
        _port = port;
        Description = $"tcp connect on port {portName}";
    }

    public string Description { get; }

    public async Task<ProbeResult> CheckAsync(CancellationToken cancellationToken)
    {
        using var client = new TcpClient(IPAddress.TryParse(_address, out var ip) ? ip.AddressFamily : AddressFamily.InterNetwork);
        try
        {
            if (ip is not null)
            {
                await client.ConnectAsync(ip, _port, cancellationToken);
            }
            else
            {
                await client.ConnectAsync(_address, _port, cancellationToken);
            }

            return ProbeResult.Passed;
        }
        catch (SocketException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return ProbeResult.Failed(SocketFailure.Describe(ex));
        }
    }
}
