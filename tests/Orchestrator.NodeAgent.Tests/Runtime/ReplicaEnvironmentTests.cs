using Orchestrator.NodeAgent.Runtime;

namespace Orchestrator.NodeAgent.Tests.Runtime;

public sealed class ReplicaEnvironmentTests
{
    private static ReplicaLaunch Launch(string ownerKind = "service") => new()
    {
        ReplicaId = "web-7f3k2",
        OwnerKind = ownerKind,
        OwnerName = "web",
        Revision = 4,
        NodeName = "node-2",
        Environment = new Dictionary<string, string> { ["GREETING"] = "hello", ["PORT"] = "1" },
        Ports = [new ReplicaPort("http", 80, 20001), new ReplicaPort("admin-ui", 9090, 20002)],
    };

    [Fact]
    public void Processes_get_host_ports_in_PORT_and_PORT_NAME()
    {
        var env = ReplicaEnvironment.Build(Launch(), PortView.HostPort);

        Assert.Equal("20001", env["PORT"]);
        Assert.Equal("20001", env["PORT_HTTP"]);
        Assert.Equal("20002", env["PORT_ADMIN_UI"]);
    }

    [Fact]
    public void Mapped_containers_get_container_ports_in_PORT_and_PORT_NAME()
    {
        var env = ReplicaEnvironment.Build(Launch(), PortView.ContainerPort);

        Assert.Equal("80", env["PORT"]);
        Assert.Equal("80", env["PORT_HTTP"]);
        Assert.Equal("9090", env["PORT_ADMIN_UI"]);
    }

    [Fact]
    public void Service_discovery_variables_are_set_and_the_templates_and_the_standard_ones_win_over_them()
    {
        var launch = Launch() with
        {
            ServiceEnvironment = new Dictionary<string, string>
            {
                ["API_SERVICE_HOST"] = "127.0.0.2",
                ["API_SERVICE_PORT"] = "7000",
                ["GREETING"] = "from a service",
                ["ORC_NODE"] = "elsewhere",
            },
        };

        var env = ReplicaEnvironment.Build(launch, PortView.ContainerPort);

        Assert.Equal("127.0.0.2", env["API_SERVICE_HOST"]);
        Assert.Equal("7000", env["API_SERVICE_PORT"]);
        Assert.Equal("hello", env["GREETING"]);
        Assert.Equal("node-2", env["ORC_NODE"]);
        Assert.Equal("--api=127.0.0.2:7000", ReplicaEnvironment.Expand("--api=${API_SERVICE_HOST}:${API_SERVICE_PORT}", env));
    }

    [Fact]
    public void The_standard_variables_are_set_and_win_over_the_templates()
    {
        var env = ReplicaEnvironment.Build(Launch(), PortView.HostPort);

        Assert.Equal("web-7f3k2", env["ORC_REPLICA_ID"]);
        Assert.Equal("node-2", env["ORC_NODE"]);
        Assert.Equal("web", env["ORC_SERVICE"]);
        Assert.Equal("4", env["ORC_REVISION"]);
        Assert.Equal("hello", env["GREETING"]);
        Assert.Equal("20001", env["PORT"]);
        Assert.False(env.ContainsKey("ORC_JOB"));
    }

    [Fact]
    public void A_job_replica_gets_ORC_JOB_instead_of_ORC_SERVICE()
    {
        var env = ReplicaEnvironment.Build(Launch("job"), PortView.HostPort);

        Assert.Equal("web", env["ORC_JOB"]);
        Assert.False(env.ContainsKey("ORC_SERVICE"));
    }

    [Fact]
    public void A_replica_without_ports_gets_no_PORT()
    {
        var env = ReplicaEnvironment.Build(Launch() with { Ports = [], Environment = new Dictionary<string, string>() }, PortView.HostPort);

        Assert.False(env.ContainsKey("PORT"));
    }

    [Theory]
    [InlineData("admin-ui", "PORT_ADMIN_UI")]
    [InlineData("http", "PORT_HTTP")]
    [InlineData("grpc-web-2", "PORT_GRPC_WEB_2")]
    public void Port_names_become_upper_case_variables_with_underscores(string name, string variable)
    {
        Assert.Equal(variable, ReplicaEnvironment.PortVariable(name));
    }

    [Theory]
    [InlineData("${PORT}", "8080")]
    [InlineData("--listen=127.0.0.1:${PORT}", "--listen=127.0.0.1:8080")]
    [InlineData("${A}${B}", "ab")]
    [InlineData("x${A}y${B}z", "xaybz")]
    [InlineData("${MISSING}", "${MISSING}")]
    [InlineData("$${PORT}", "${PORT}")]
    [InlineData("$PORT", "$PORT")]
    [InlineData("cost: 5$", "cost: 5$")]
    [InlineData("${", "${")]
    [InlineData("${}", "${}")]
    [InlineData("${PORT", "${PORT")]
    [InlineData("plain", "plain")]
    public void Expansion_replaces_known_variables_and_leaves_everything_else_as_written(string text, string expected)
    {
        var env = new Dictionary<string, string> { ["PORT"] = "8080", ["A"] = "a", ["B"] = "b" };

        Assert.Equal(expected, ReplicaEnvironment.Expand(text, env));
    }

    [Fact]
    public void Expansion_is_not_recursive()
    {
        var env = new Dictionary<string, string> { ["A"] = "${B}", ["B"] = "b" };

        Assert.Equal("${B}", ReplicaEnvironment.Expand("${A}", env));
    }
}
