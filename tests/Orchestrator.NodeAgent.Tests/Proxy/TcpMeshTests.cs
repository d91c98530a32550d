using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Http;
using Orchestrator.NodeAgent.Proxy.Tcp;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using static Orchestrator.NodeAgent.Tests.Proxy.MeshSnapshots;
using TcpBackend = Orchestrator.NodeAgent.Tests.Proxy.Tcp.TestBackend;

namespace Orchestrator.NodeAgent.Tests.Proxy;

/// <summary>
/// The mesh's TCP side as the agent wires it (<see cref="TcpMeshListenerFactory"/> behind
/// <see cref="RoutingMesh"/>), with real sockets on loopback: a published tcp port opens with the
/// snapshot that names it, follows endpoint changes without cutting a long-lived connection, and
/// closes when its service goes.
/// </summary>
public sealed class TcpMeshTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<TcpBackend> _backends = [];
    private readonly List<Socket> _clients = [];
    private RoutingMesh _mesh = null!;

    public ValueTask InitializeAsync()
    {
        var metrics = new MeshMetrics(_services.GetRequiredService<IMeterFactory>());
        _mesh = new RoutingMesh(
            new RoutingMeshOptions { Address = IPAddress.Loopback },
            new YarpHttpMesh(IPAddress.Loopback, metrics, TimeProvider.System, NullLoggerFactory.Instance),
            new TcpMeshListenerFactory(new TcpProxyOptions(), metrics, TimeProvider.System, NullLoggerFactory.Instance),
            TimeProvider.System,
            NullLogger<RoutingMesh>.Instance);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await _mesh.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        await _services.DisposeAsync();
    }

    private TcpBackend Echo()
    {
        var backend = TcpBackend.Echo();
        _backends.Add(backend);
        return backend;
    }

    private static ServiceEndpoints Tcp(string service, int published, params TcpBackend[] backends) =>
        Service(service, Port("db", published, Protocol.Tcp, LoadBalancing.RoundRobin, [.. backends.Select(b => ("127.0.0.1", b.Port))]));

    private async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _clients.Add(socket);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), Ct);
        return socket;
    }

    private static Task<string> EchoAsync(Socket client, string text) => TcpBackend.RoundTripAsync(client, text, Ct);

    [Fact]
    public async Task A_long_lived_connection_is_carried_through_endpoint_changes_and_the_port_closes_with_its_service()
    {
        var (a, b, c) = (Echo(), Echo(), Echo());
        var published = FreePort.Next();
        await _mesh.ApplyAsync(Snapshot(1, Tcp("db", published, a)), Ct);

        var longLived = await ConnectAsync(published);
        Assert.Equal("one", await EchoAsync(longLived, "one"));

        // An unrelated change (b added), then its own endpoint removed: the open connection stays on a.
        await _mesh.ApplyAsync(Snapshot(2, Tcp("db", published, a, b)), Ct);
        Assert.Equal("two", await EchoAsync(longLived, "two"));
        await _mesh.ApplyAsync(Snapshot(3, Tcp("db", published, b, c)), Ct);
        Assert.Equal("three", await EchoAsync(longLived, "three"));

        // New connections go to the new endpoints only.
        var acceptedByA = a.Accepted;
        for (var i = 0; i < 4; i++)
        {
            var client = await ConnectAsync(published);
            Assert.Equal($"new {i}", await EchoAsync(client, $"new {i}"));
        }

        Assert.Equal(acceptedByA, a.Accepted);
        Assert.Equal(4, b.Accepted + c.Accepted - 0);

        await _mesh.ApplyAsync(Snapshot(4), Ct);
        Assert.True(LoopbackPort.Refuses(published), $"port {published} still accepts after its service was removed");
    }
}
