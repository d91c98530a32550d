using System.Net;
using System.Net.Sockets;
using Orchestrator.NodeAgent.Health;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Health;

public sealed class TcpProbeCheckTests
{
    [Fact]
    public async Task An_open_port_passes()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var check = new TcpProbeCheck("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, "db");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Passed, result);
    }

    [Fact]
    public async Task A_host_name_is_resolved()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var check = new TcpProbeCheck("localhost", ((IPEndPoint)listener.LocalEndpoint).Port, "db");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Passed, result);
    }

    [Fact]
    public async Task A_closed_port_fails_with_connection_refused()
    {
        var check = new TcpProbeCheck("127.0.0.1", FreePort.Next(), "db");

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Failed("connection refused"), result);
    }

    [Fact]
    public void The_description_names_the_port()
    {
        Assert.Equal("tcp connect on port db", new TcpProbeCheck("127.0.0.1", 5432, "db").Description);
    }
}
