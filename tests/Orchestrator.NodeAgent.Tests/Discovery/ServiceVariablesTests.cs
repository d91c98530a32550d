using Orchestrator.NodeAgent.Discovery;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Discovery;

public sealed class ServiceVariablesTests
{
    private static ServiceEndpoints Service(string name, params (string Port, int Published)[] ports)
    {
        var service = new ServiceEndpoints { Service = name, Version = 7 };
        foreach (var (port, published) in ports)
        {
            service.Ports.Add(new PortEndpoints { Port = port, Published = published, Protocol = Protocol.Http });
        }

        return service;
    }

    [Fact]
    public void A_service_with_published_ports_gets_host_first_port_and_one_variable_per_port()
    {
        var env = ServiceVariables.Of([Service("web", ("http", 8080), ("admin", 9090))], "10.0.0.5");

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["WEB_SERVICE_HOST"] = "10.0.0.5",
                ["WEB_SERVICE_PORT"] = "8080",
                ["WEB_SERVICE_PORT_HTTP"] = "8080",
                ["WEB_SERVICE_PORT_ADMIN"] = "9090",
            },
            env);
    }

    [Fact]
    public void Dashes_in_service_and_port_names_become_underscores_and_names_are_upper_cased()
    {
        var env = ServiceVariables.Of([Service("user-api", ("admin-http", 9443))], "127.0.0.2");

        Assert.Equal("127.0.0.2", env["USER_API_SERVICE_HOST"]);
        Assert.Equal("9443", env["USER_API_SERVICE_PORT"]);
        Assert.Equal("9443", env["USER_API_SERVICE_PORT_ADMIN_HTTP"]);
    }

    [Fact]
    public void Unpublished_ports_are_left_out_and_a_service_without_a_published_port_gets_nothing()
    {
        var env = ServiceVariables.Of([Service("db", ("pg", 0)), Service("web", ("metrics", 0), ("http", 8080))], "127.0.0.2");

        Assert.Equal(["WEB_SERVICE_HOST", "WEB_SERVICE_PORT", "WEB_SERVICE_PORT_HTTP"], env.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("8080", env["WEB_SERVICE_PORT"]);
    }

    [Fact]
    public void A_service_with_no_ready_endpoints_still_gets_its_variables_from_the_table()
    {
        var table = new EndpointsTable();
        table.Apply(new EndpointsUpdate { Version = 3, Full = true, Services = { Service("web", ("http", 8080)), Service("api", ("grpc", 7000)) } });

        var env = ServiceVariables.Of(table.Current, "127.0.0.2");

        Assert.Equal("7000", env["API_SERVICE_PORT_GRPC"]);
        Assert.Equal("8080", env["WEB_SERVICE_PORT"]);
        Assert.Equal(6, env.Count);
    }
}
