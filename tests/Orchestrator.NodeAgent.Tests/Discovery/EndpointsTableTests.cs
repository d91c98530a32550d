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
}
