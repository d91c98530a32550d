using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.V1;
using static Orchestrator.NodeAgent.Tests.Proxy.MeshSnapshots;

namespace Orchestrator.NodeAgent.Tests.Proxy;

public sealed class RoutingMeshTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class FakeHttpMesh : IHttpMesh
    {
        public List<int[]> Applied { get; } = [];

        public HashSet<int> Taken { get; } = [];

        public bool Disposed { get; private set; }

        public ValueTask<IReadOnlyDictionary<int, string>> ApplyAsync(IReadOnlyCollection<MeshRoute> routes, CancellationToken cancellationToken)
        {
            Applied.Add([.. routes.Select(r => r.Published).Order()]);
            IReadOnlyDictionary<int, string> failures = routes.Where(r => Taken.Contains(r.Published)).ToDictionary(r => r.Published, _ => "Address already in use");
            return ValueTask.FromResult(failures);
        }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class FakeTcpFactory(bool serves) : ITcpListenerFactory
    {
        public List<string> Calls { get; } = [];

        public HashSet<int> Taken { get; } = [];

        public ValueTask<ITcpRouteListener?> OpenAsync(IPAddress address, MeshRoute route, CancellationToken cancellationToken)
        {
            if (Taken.Contains(route.Published))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }

            Calls.Add($"open {address}:{route.Published} {route.Endpoints.Length}");
            return ValueTask.FromResult<ITcpRouteListener?>(serves ? new Listener(this, route.Published) : null);
        }

        private sealed class Listener(FakeTcpFactory owner, int port) : ITcpRouteListener
        {
            public void Update(MeshRoute route) => owner.Calls.Add($"update {port} {route.Endpoints.Length} {route.Balancing}");

            public ValueTask DisposeAsync()
            {
                owner.Calls.Add($"close {port}");
                return ValueTask.CompletedTask;
            }
        }
    }

    internal sealed class ListLogger<T> : ILogger<T>
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
            {
                Entries.Add((logLevel, formatter(state, exception)));
            }
        }

        public string[] Warnings()
        {
            lock (Entries)
            {
                return [.. Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message)];
            }
        }
    }

    private static (RoutingMesh Mesh, FakeHttpMesh Http, FakeTcpFactory Tcp, FakeTimeProvider Time, ListLogger<RoutingMesh> Log) Create(bool servesTcp = true)
    {
        var http = new FakeHttpMesh();
        var tcp = new FakeTcpFactory(servesTcp);
        var time = new FakeTimeProvider();
        var log = new ListLogger<RoutingMesh>();
        var mesh = new RoutingMesh(new RoutingMeshOptions { Address = IPAddress.Parse("127.0.0.2") }, http, tcp, time, log);
        return (mesh, http, tcp, time, log);
    }

    private static ServiceEndpoints Web(int published = 8080, params int[] ports) =>
        Service("web", Port("http", published, Protocol.Http, LoadBalancing.RoundRobin, [.. ports.Select(p => ("127.0.0.2", p))]));

    private static ServiceEndpoints Db(LoadBalancing balancing = LoadBalancing.RoundRobin, params int[] ports) =>
        Service("db", Port("pg", 5432, Protocol.Tcp, balancing, [.. ports.Select(p => ("127.0.0.2", p))]));

    [Fact]
    public async Task Http_routes_go_to_the_http_mesh_as_a_whole_and_tcp_routes_each_to_a_listener()
    {
        var (mesh, http, tcp, _, _) = Create();

        await mesh.ApplyAsync(Snapshot(1, Web(ports: 20001), Db(ports: 20002)), Ct);
        await mesh.ApplyAsync(Snapshot(2, Web(ports: [20001, 20003]), Db(LoadBalancing.LeastRequests, 20002, 20004)), Ct);
        await mesh.ApplyAsync(Snapshot(3, Web(ports: 20001)), Ct);

        Assert.Equal([[8080], [8080], [8080]], http.Applied);
        Assert.Equal(["open 127.0.0.2:5432 1", "update 5432 2 LeastRequests", "close 5432"], tcp.Calls);
        Assert.Equal([8080], mesh.Active.Keys);
    }

    [Fact]
    public async Task A_taken_port_is_a_warning_naming_the_service_and_port_and_is_bound_on_a_later_try()
    {
        var (mesh, http, _, time, log) = Create();
        http.Taken.Add(8080);

        await mesh.ApplyAsync(Snapshot(1, Web(ports: 20001), Db(ports: 20002)), Ct);

        Assert.Equal([5432], mesh.Active.Keys);
        Assert.Equal([8080], mesh.Failed.Keys);
        var warning = Assert.Single(log.Warnings());
        Assert.Contains("127.0.0.2:8080 for service web (port http): Address already in use", warning, StringComparison.Ordinal);

        // The retry runs inside Advance: with these fakes nothing in it waits.
        // The port stays taken for one more try: no second warning for the same reason.
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, http.Applied.Count);
        Assert.Single(log.Warnings());

        http.Taken.Clear();
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Contains(8080, mesh.Active.Keys);
        Assert.Empty(mesh.Failed);
        Assert.Equal(3, http.Applied.Count);
    }

    [Fact]
    public async Task A_taken_tcp_port_is_retried_too()
    {
        var (mesh, _, tcp, time, log) = Create();
        tcp.Taken.Add(5432);

        await mesh.ApplyAsync(Snapshot(1, Db(ports: 20002)), Ct);
        Assert.Contains("service db (port pg)", Assert.Single(log.Warnings()), StringComparison.Ordinal);

        tcp.Taken.Clear();
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Contains(5432, mesh.Active.Keys);
        Assert.Equal(["open 127.0.0.2:5432 1"], tcp.Calls);
    }

    [Fact]
    public async Task Without_a_tcp_proxy_tcp_routes_are_logged_as_not_served_once()
    {
        var (mesh, _, _, _, log) = Create(servesTcp: false);

        await mesh.ApplyAsync(Snapshot(1, Db(ports: 20002)), Ct);
        await mesh.ApplyAsync(Snapshot(2, Db(ports: [20002, 20003])), Ct);

        Assert.Contains("does not serve TCP routes yet", Assert.Single(log.Warnings()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disposing_the_mesh_closes_every_listener()
    {
        var (mesh, http, tcp, _, _) = Create();
        await mesh.ApplyAsync(Snapshot(1, Web(ports: 20001), Db(ports: 20002)), Ct);

        await mesh.DisposeAsync();

        Assert.True(http.Disposed);
        Assert.Contains("close 5432", tcp.Calls);
    }
}
