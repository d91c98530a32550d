using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Proxy;

/// <summary>The mesh as the agent hosts it: fed by the endpoints table, counted on <c>/metrics</c>.</summary>
public sealed class AgentMeshTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// A port bound but never listening: connections to it are refused for as long as the test holds
    /// it, and no other test can take it (a port from <see cref="FreePort"/> could be taken by a
    /// parallel test's server, and the agent would then speak gRPC to it).
    /// </summary>
    private sealed class RefusingPort : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        public RefusingPort() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

        public void Dispose() => _socket.Dispose();
    }

    private readonly RefusingPort _noControlPlane = new();

    private NodeAgentOptions Options(TempDirectory dir, bool mesh = true) => new()
    {
        // No control plane answers there: the agent keeps retrying, which these tests do not need.
        Servers = [new Uri($"http://127.0.0.1:{_noControlPlane.Port.ToString(CultureInfo.InvariantCulture)}")],
        NodeName = "node-1",
        Address = "127.0.0.1",
        Runtime = RuntimeMode.Process,
        CpuMillis = 1000,
        MemoryBytes = 1L << 30,
        StateDirectory = dir.File("agent"),
        HttpListen = "127.0.0.1:0",
        StopAllOnShutdown = true,
        Mesh = mesh,
    };

    public void Dispose() => _noControlPlane.Dispose();

    private static EndpointsUpdate Update(int published, params int[] backendPorts)
    {
        var port = new PortEndpoints { Port = "http", Published = published, Protocol = Protocol.Http };
        foreach (var p in backendPorts)
        {
            port.Endpoints.Add(new ReplicaEndpoint { Replica = $"web-{p}", Node = "node-1", Endpoint = new Endpoint { Address = "127.0.0.1", Port = p } });
        }

        return new EndpointsUpdate { Version = 5, Full = true, Services = { new ServiceEndpoints { Service = "web", Version = 5, Ports = { port } } } };
    }

    [Fact]
    public async Task An_applied_update_is_routed_before_it_is_acked_and_metrics_show_the_requests()
    {
        using var dir = new TempDirectory("orc-mesh");
        await using var backend = await TestBackend.StartAsync("web-1", Ct);
        await using var app = NodeAgentApp.Build(Options(dir), dockerVersion: null, b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync(Ct);
        var published = FreePort.Next();

        // What the node stream does with each update: apply, then ack once ApplyAsync returns.
        Assert.True(await app.Services.GetRequiredService<EndpointsTable>().ApplyAsync(Update(published, backend.Port), Ct));

        using var client = new HttpClient();
        for (var i = 0; i < 3; i++)
        {
            // The mesh's own server: the agent's /healthz is not served on a published port.
            var body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{published}/healthz"), Ct);
            Assert.StartsWith("web-1 GET", body, StringComparison.Ordinal);
        }

        var metrics = await client.GetStringAsync(new Uri(app.HttpUrl(), "/metrics"), Ct);
        Assert.Contains("orc_mesh_requests_total{", metrics, StringComparison.Ordinal);
        Assert.Contains("service=\"web\"", metrics, StringComparison.Ordinal);

        await app.StopAsync(Ct);
        Assert.True(LoopbackPort.Refuses(published));
    }

    [Fact]
    public async Task With_no_mesh_an_update_opens_no_port()
    {
        using var dir = new TempDirectory("orc-mesh");
        await using var app = NodeAgentApp.Build(Options(dir, mesh: false), dockerVersion: null, b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync(Ct);
        var published = FreePort.Next();

        Assert.True(await app.Services.GetRequiredService<EndpointsTable>().ApplyAsync(Update(published, 1), Ct));

        Assert.True(LoopbackPort.Refuses(published));
    }

    [Fact]
    public async Task A_simulated_node_opens_no_mesh_listener()
    {
        var options = SimulatedFleet.AgentOptions(new SimulatedFleetOptions { Nodes = 1 }, 1);
        using var http = new HttpClient();
        await using var node = new SimulatedNode(options, new NodeInfo(), _ => throw new InvalidOperationException("not connected in this test"), http, TimeProvider.System, NullLoggerFactory.Instance);
        var published = FreePort.Next();

        Assert.False(options.Mesh);
        Assert.True(await node.Agent.Endpoints.ApplyAsync(Update(published, 1), Ct));

        Assert.True(LoopbackPort.Refuses(published));
    }
}
