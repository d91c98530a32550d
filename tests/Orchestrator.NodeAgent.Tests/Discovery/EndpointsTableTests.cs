using System.Text.Json;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Discovery;

public sealed class EndpointsTableTests
{
    private static ServiceEndpoints Service(string name, long version, params int[] ports)
    {
        var port = new PortEndpoints { Port = "http", Published = 8080, Protocol = Protocol.Http };
        foreach (var p in ports)
        {
            port.Endpoints.Add(new ReplicaEndpoint { Replica = $"{name}-{p}", Node = "node-1", Endpoint = new Endpoint { Address = "127.0.0.2", Port = p } });
        }

        return new ServiceEndpoints { Service = name, Version = version, Ports = { port } };
    }

    private static EndpointsUpdate Full(long version, params ServiceEndpoints[] services) => new() { Version = version, Full = true, Services = { services } };

    [Fact]
    public void A_full_update_replaces_everything_and_deltas_change_and_remove_services()
    {
        var table = new EndpointsTable();
        Assert.True(table.Apply(Full(10, Service("web", 8, 20001), Service("api", 9, 20002))));
        Assert.Equal(10, table.Current.Version);
        Assert.Equal(["api", "web"], table.Current.Services.Keys);

        Assert.True(table.Apply(new EndpointsUpdate { Version = 12, Services = { Service("web", 12, 20001, 20003) } }));
        Assert.Equal(2, table.Current.Services["web"].Ports[0].Endpoints.Count);
        Assert.True(table.Apply(new EndpointsUpdate { Version = 13, RemovedServices = { "api" } }));
        Assert.Equal(["web"], table.Current.Services.Keys);
        Assert.Equal(13, table.Current.Version);

        // A new stream's full set is the whole truth: services it lacks are gone.
        Assert.True(table.Apply(Full(20, Service("db", 15, 20009))));
        Assert.Equal(["db"], table.Current.Services.Keys);
    }

    [Fact]
    public void A_delta_older_than_the_applied_version_is_ignored()
    {
        var table = new EndpointsTable();
        table.Apply(Full(10, Service("web", 8, 20001)));

        Assert.False(table.Apply(new EndpointsUpdate { Version = 9, RemovedServices = { "web" } }));
        Assert.Equal(["web"], table.Current.Services.Keys);
        Assert.Equal(10, table.Current.Version);

        // Deltas of one transaction share a version: an equal version is applied.
        Assert.True(table.Apply(new EndpointsUpdate { Version = 10, Services = { Service("api", 10, 20002) } }));
        Assert.Equal(["api", "web"], table.Current.Services.Keys);
    }

    [Fact]
    public void The_snapshot_reads_as_json_for_every_service_and_for_one()
    {
        var table = new EndpointsTable();
        table.Apply(Full(10, Service("web", 8, 20001, 20003)));

        using var all = JsonDocument.Parse(table.Current.ToJson());
        Assert.Equal(10, all.RootElement.GetProperty("version").GetInt64());
        var web = all.RootElement.GetProperty("services").GetProperty("web");
        Assert.Equal(8, web.GetProperty("version").GetInt64());
        var port = web.GetProperty("ports")[0];
        Assert.Equal("http", port.GetProperty("name").GetString());
        Assert.Equal(8080, port.GetProperty("published").GetInt32());
        Assert.Equal("http", port.GetProperty("protocol").GetString());
        Assert.Equal([20001, 20003], port.GetProperty("endpoints").EnumerateArray().Select(e => e.GetProperty("port").GetInt32()));
        Assert.Equal("127.0.0.2", port.GetProperty("endpoints")[0].GetProperty("address").GetString());
        Assert.Equal("web-20001", port.GetProperty("endpoints")[0].GetProperty("replica").GetString());

        using var one = JsonDocument.Parse(table.Current.ServiceJson("web")!);
        Assert.Equal("web", one.RootElement.GetProperty("service").GetString());
        Assert.Null(table.Current.ServiceJson("nosuch"));
    }

    private sealed class RecordingConsumer : IEndpointsConsumer
    {
        public List<long> Applied { get; } = [];

        public ValueTask ApplyAsync(EndpointsSnapshot snapshot, CancellationToken cancellationToken)
        {
            Applied.Add(snapshot.Version);
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task Consumers_get_every_applied_snapshot_and_none_of_an_ignored_update()
    {
        var first = new RecordingConsumer();
        var second = new RecordingConsumer();
        var table = new EndpointsTable([first, second]);

        Assert.True(await table.ApplyAsync(Full(10, Service("web", 8, 20001)), TestContext.Current.CancellationToken));
        Assert.False(await table.ApplyAsync(new EndpointsUpdate { Version = 9, RemovedServices = { "web" } }, TestContext.Current.CancellationToken));
        Assert.True(await table.ApplyAsync(new EndpointsUpdate { Version = 11, RemovedServices = { "web" } }, TestContext.Current.CancellationToken));

        Assert.Equal([10L, 11L], first.Applied);
        Assert.Equal([10L, 11L], second.Applied);
    }

    private static ReplicaEndpoint At(string replica, int port, string address = "127.0.0.2") => new() { Replica = replica, Node = "node-1", Endpoint = new Endpoint { Address = address, Port = port } };

    private static EndpointsUpdate Delta(long version, string service, params PortEndpointsDelta[] ports) => new()
    {
        Version = version,
        Deltas = { new EndpointsDelta { Service = service, Version = version, ChangedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 24, 1, 0, 0, TimeSpan.Zero).AddSeconds(version)), Ports = { ports } } },
    };

    [Fact]
    public void A_delta_adds_and_removes_endpoints_in_the_planners_order_and_leaves_the_rest_alone()
    {
        var table = new EndpointsTable();
        var web = Service("web", 8, 20001, 20003, 20005);
        web.Ports.Add(new PortEndpoints { Port = "admin", Published = 9090, Protocol = Protocol.Tcp, Endpoints = { At("web-1", 21000) } });
        table.Apply(Full(10, web, Service("api", 9, 20010)));
        var api = table.Current.Services["api"];

        Assert.True(table.Apply(Delta(12, "web", new PortEndpointsDelta { Port = "http", Upserted = { At("web-20004", 20004), At("web-20000", 20000) }, Removed = { "web-20003" } })));

        var now = table.Current.Services["web"];
        Assert.Equal(12, now.Version);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 1, 0, 12, TimeSpan.Zero), now.ChangedAt.ToDateTimeOffset());
        Assert.Equal([20000, 20001, 20004, 20005], now.Ports[0].Endpoints.Select(e => e.Endpoint.Port));
        Assert.Equal(8080, now.Ports[0].Published);
        Assert.Equal(Protocol.Http, now.Ports[0].Protocol);
        Assert.Same(web.Ports[1], now.Ports[1]);
        Assert.Same(api, table.Current.Services["api"]);

        // The applied snapshot is new; the one readers held before is unchanged.
        Assert.Equal([20001, 20003, 20005], web.Ports[0].Endpoints.Select(e => e.Endpoint.Port));
    }

    [Fact]
    public void A_delta_moves_an_endpoint_and_changes_a_ports_fields_without_its_endpoints()
    {
        var table = new EndpointsTable();
        table.Apply(Full(10, Service("web", 8, 20001, 20003)));

        // web-20001 moved to another address: the upsert replaces it, and it sorts by its new address.
        Assert.True(table.Apply(Delta(11, "web", new PortEndpointsDelta
        {
            Port = "http",
            Metadata = new PortEndpoints { Port = "http", Published = 8081, Protocol = Protocol.Tcp },
            Upserted = { At("web-20001", 20001, "127.0.0.3") },
        })));

        var port = table.Current.Services["web"].Ports[0];
        Assert.Equal(8081, port.Published);
        Assert.Equal(Protocol.Tcp, port.Protocol);
        Assert.Equal(["web-20003", "web-20001"], port.Endpoints.Select(e => e.Replica));
        Assert.Equal("127.0.0.3", port.Endpoints[1].Endpoint.Address);
    }

    [Fact]
    public void A_delta_older_than_the_applied_version_changes_nothing()
    {
        var table = new EndpointsTable();
        table.Apply(Full(10, Service("web", 8, 20001)));

        Assert.False(table.Apply(Delta(9, "web", new PortEndpointsDelta { Port = "http", Removed = { "web-20001" } })));

        Assert.Equal(10, table.Current.Version);
        Assert.Equal("web-20001", Assert.Single(table.Current.Services["web"].Ports[0].Endpoints).Replica);
    }

    [Fact]
    public void A_delta_for_what_the_table_lacks_changes_only_what_it_can_and_the_next_full_set_heals_the_rest()
    {
        var table = new EndpointsTable();
        table.Apply(Full(10, Service("web", 8, 20001)));

        // An unknown service: left absent (it cannot be built from a delta). An endpoint that is
        // not there: its removal changes nothing. A port the set lacks, without its fields: left out.
        Assert.True(table.Apply(new EndpointsUpdate
        {
            Version = 11,
            Deltas =
            {
                new EndpointsDelta { Service = "ghost", Version = 11, Ports = { new PortEndpointsDelta { Port = "http", Upserted = { At("ghost-1", 20009) } } } },
                new EndpointsDelta { Service = "web", Version = 11, Ports = { new PortEndpointsDelta { Port = "http", Removed = { "web-nosuch" } }, new PortEndpointsDelta { Port = "metrics", Upserted = { At("web-20001", 29000) } } } },
            },
        }));

        Assert.Equal(["web"], table.Current.Services.Keys);
        Assert.Equal(11, table.Current.Version);
        var web = table.Current.Services["web"];
        Assert.Equal("http", Assert.Single(web.Ports).Port);
        Assert.Equal("web-20001", Assert.Single(web.Ports[0].Endpoints).Replica);

        // The next stream's full set is the truth again.
        table.Apply(Full(12, Service("web", 12, 20001), Service("ghost", 11, 20009)));
        Assert.Equal(["ghost", "web"], table.Current.Services.Keys);
    }

    [Fact]
    public void A_delta_can_add_a_port_that_carries_its_fields()
    {
        var table = new EndpointsTable();
        table.Apply(Full(10, Service("web", 8)));

        table.Apply(Delta(11, "web", new PortEndpointsDelta { Port = "metrics", Metadata = new PortEndpoints { Port = "metrics", Published = 9100, Protocol = Protocol.Http }, Upserted = { At("web-2", 29002), At("web-1", 29001) } }));

        var web = table.Current.Services["web"];
        Assert.Equal(["http", "metrics"], web.Ports.Select(p => p.Port));
        Assert.Equal(9100, web.Ports[1].Published);
        Assert.Equal(["web-1", "web-2"], web.Ports[1].Endpoints.Select(e => e.Replica));
    }
}
