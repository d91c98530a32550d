using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Http;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using static Orchestrator.NodeAgent.Tests.Proxy.MeshSnapshots;

namespace Orchestrator.NodeAgent.Tests.Proxy;

/// <summary>
/// The HTTP mesh with real sockets on loopback: backends are small Kestrel servers on ephemeral
/// ports, the mesh listens on free ports of 127.0.0.1, and requests go through it as a client's would.
/// </summary>
public sealed class HttpMeshTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly List<TestBackend> _backends = [];
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(30) };
    private RoutingMesh? _mesh;
    private FakeTimeProvider? _fakeTime;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_mesh is not null)
        {
            await _mesh.DisposeAsync();
        }

        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        _client.Dispose();
        await _services.DisposeAsync();
    }

    private RoutingMesh Mesh(TimeProvider? routingTime = null)
    {
        var metrics = new MeshMetrics(_services.GetRequiredService<IMeterFactory>());
        _mesh = new RoutingMesh(
            new RoutingMeshOptions { Address = IPAddress.Loopback },
            new YarpHttpMesh(IPAddress.Loopback, metrics, TimeProvider.System, NullLoggerFactory.Instance),
            UnservedTcpListenerFactory.Instance,
            routingTime ?? TimeProvider.System,
            NullLogger<RoutingMesh>.Instance);
        return _mesh;
    }

    private async Task<TestBackend[]> BackendsAsync(params string[] names)
    {
        var started = new List<TestBackend>();
        foreach (var name in names)
        {
            var backend = await TestBackend.StartAsync(name, Ct);
            _backends.Add(backend);
            started.Add(backend);
        }

        return [.. started];
    }

    private static ServiceEndpoints Http(string service, int published, LoadBalancing balancing, params TestBackend[] backends) =>
        Service(service, Port("http", published, Protocol.Http, balancing, [.. backends.Select(b => ("127.0.0.1", b.Port))]));

    private static ServiceEndpoints Http(string service, int published, params TestBackend[] backends) =>
        Http(service, published, LoadBalancing.RoundRobin, backends);

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, int port, string? host = null)
    {
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{port}/some/path");
        if (host is not null)
        {
            request.Headers.Host = host;
        }

        using var response = await _client.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Requests_are_spread_round_robin_over_all_three_replicas()
    {
        var backends = await BackendsAsync("a", "b", "c");
        var published = FreePort.Next();
        await Mesh().ApplyAsync(Snapshot(1, Http("web", published, backends)), Ct);

        for (var i = 0; i < 30; i++)
        {
            var (status, _) = await SendAsync(HttpMethod.Get, published);
            Assert.Equal(HttpStatusCode.OK, status);
        }

        Assert.Equal([10, 10, 10], backends.Select(b => b.Served));
    }

    [Theory]
    [InlineData(LoadBalancing.LeastRequests)]
    [InlineData(LoadBalancing.PowerOfTwoChoices)]
    public async Task The_other_policies_serve_every_request_too(LoadBalancing balancing)
    {
        var backends = await BackendsAsync("a", "b", "c");
        var published = FreePort.Next();
        await Mesh().ApplyAsync(Snapshot(1, Http("web", published, balancing, backends)), Ct);

        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, published)).Status);
        }

        Assert.Equal(12, backends.Sum(b => b.Served));
    }

    [Fact]
    public async Task A_replica_whose_port_closed_costs_idempotent_requests_nothing_and_a_post_is_not_retried()
    {
        var backends = await BackendsAsync("a", "b", "c");
        var published = FreePort.Next();
        await Mesh().ApplyAsync(Snapshot(1, Http("web", published, backends)), Ct);
        await backends[1].DisposeAsync();
        _backends.Remove(backends[1]);

        // Round-robin sends one of the first three requests to the closed port: a POST is not sent again.
        var posts = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            posts.Add((await SendAsync(HttpMethod.Post, published)).Status);
        }

        Assert.Equal(1, posts.Count(s => s == HttpStatusCode.BadGateway));
        Assert.Equal(2, posts.Count(s => s == HttpStatusCode.OK));

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Options })
        {
            for (var i = 0; i < 6; i++)
            {
                var (status, _) = await SendAsync(method, published);
                Assert.Equal(HttpStatusCode.OK, status);
            }
        }

        // Passive health set the closed replica aside: POSTs now reach only the live ones.
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, published)).Status);
        }
    }

    [Fact]
    public async Task Routes_match_by_the_port_a_request_arrives_on_whatever_its_host_header()
    {
        var (web, api) = (await BackendsAsync("web-1"), await BackendsAsync("api-1"));
        var (webPort, apiPort) = (FreePort.Next(), FreePort.Next());
        await Mesh().ApplyAsync(Snapshot(1, Http("web", webPort, web), Http("api", apiPort, api)), Ct);

        Assert.StartsWith("web-1 ", (await SendAsync(HttpMethod.Get, webPort, host: $"api:{apiPort}")).Body, StringComparison.Ordinal);
        Assert.StartsWith("api-1 ", (await SendAsync(HttpMethod.Get, apiPort, host: "web")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_removed_service_closes_its_listener_and_another_service_keeps_answering()
    {
        var (web, api) = (await BackendsAsync("web-1"), await BackendsAsync("api-1"));
        var (webPort, apiPort) = (FreePort.Next(), FreePort.Next());
        var mesh = Mesh();
        await mesh.ApplyAsync(Snapshot(1, Http("web", webPort, web), Http("api", apiPort, api)), Ct);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, webPort)).Status);

        await mesh.ApplyAsync(Snapshot(2, Http("api", apiPort, api)), Ct);

        Assert.True(LoopbackPort.Refuses(webPort));
        Assert.StartsWith("api-1 ", (await SendAsync(HttpMethod.Get, apiPort)).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_published_port_change_moves_the_listener()
    {
        var web = await BackendsAsync("web-1");
        var (before, after) = (FreePort.Next(), FreePort.Next());
        var mesh = Mesh();
        await mesh.ApplyAsync(Snapshot(1, Http("web", before, web)), Ct);

        await mesh.ApplyAsync(Snapshot(2, Http("web", after, web)), Ct);

        Assert.True(LoopbackPort.Refuses(before));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, after)).Status);
    }

    [Fact]
    public async Task The_replica_sees_x_forwarded_for_and_proto()
    {
        var web = await BackendsAsync("web-1");
        var published = FreePort.Next();
        await Mesh().ApplyAsync(Snapshot(1, Http("web", published, web)), Ct);

        var (_, body) = await SendAsync(HttpMethod.Get, published);

        Assert.Equal("web-1 GET for=127.0.0.1 proto=http", body);
    }

    [Fact]
    public async Task A_service_with_no_endpoints_answers_503_naming_it()
    {
        var published = FreePort.Next();
        await Mesh().ApplyAsync(Snapshot(1, Http("web", published)), Ct);

        var (status, body) = await SendAsync(HttpMethod.Get, published);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("service \"web\" (port http) has no ready replica", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task New_endpoints_are_in_effect_when_apply_returns()
    {
        var (a, b) = (await BackendsAsync("a"), await BackendsAsync("b"));
        var published = FreePort.Next();
        var mesh = Mesh();
        await mesh.ApplyAsync(Snapshot(1, Http("web", published, a)), Ct);
        Assert.StartsWith("a ", (await SendAsync(HttpMethod.Get, published)).Body, StringComparison.Ordinal);

        await mesh.ApplyAsync(Snapshot(2, Http("web", published, b)), Ct);

        for (var i = 0; i < 5; i++)
        {
            Assert.StartsWith("b ", (await SendAsync(HttpMethod.Get, published)).Body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_taken_port_is_bound_on_a_later_try_once_it_is_free()
    {
        var web = await BackendsAsync("web-1");
        var published = FreePort.Next();
        var holder = new TcpListener(IPAddress.Loopback, published);
        holder.Start();
        _fakeTime = new FakeTimeProvider();
        var mesh = Mesh(_fakeTime);

        await mesh.ApplyAsync(Snapshot(1, Http("web", published, web)), Ct);
        Assert.Contains(published, mesh.Failed.Keys);
        holder.Stop();
        holder.Dispose();

        _fakeTime.Advance(TimeSpan.FromSeconds(5));
        while (!mesh.Active.ContainsKey(published))
        {
            // The retry binds a real socket off the timer's thread; poll its result, not a duration.
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, Ct);
        }

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, published)).Status);
    }
}
