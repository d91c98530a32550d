using Orchestrator.NodeAgent.Hosting;

namespace Orchestrator.NodeAgent.Tests.Agent;

public sealed class NodeAgentCommandLineTests
{
    [Fact]
    public void Defaults_match_the_design()
    {
        var options = Parse();

        Assert.Equal([new Uri("http://127.0.0.1:7070")], options.Servers);
        Assert.Equal("127.0.0.1", options.Address);
        Assert.Equal(RuntimeMode.Auto, options.Runtime);
        Assert.Equal((20000, 20999), (options.FirstPort, options.LastPort));
        Assert.Equal("127.0.0.1:7072", options.EffectiveHttpListen);
        Assert.Null(options.CpuMillis);
        Assert.False(options.StopAllOnShutdown);
        Assert.True(options.Mesh);
    }

    [Fact]
    public void Every_flag_is_read()
    {
        var options = Parse(
            "--server", "http://10.0.0.1:7070,10.0.0.2:7070", "--server=http://10.0.0.3:7070",
            "--name", "node-2", "--address", "127.0.0.3", "--runtime", "process", "--cpu", "2", "--memory", "4Gi",
            "--ports", "21000-21999", "--label", "zone=a", "--label", "disk=ssd", "--state-dir", "/tmp/x", "--http-listen", "127.0.0.3:0", "--no-mesh");

        Assert.Equal([new Uri("http://10.0.0.1:7070"), new Uri("http://10.0.0.2:7070"), new Uri("http://10.0.0.3:7070")], options.Servers);
        Assert.Equal("node-2", options.NodeName);
        Assert.Equal("127.0.0.3", options.Address);
        Assert.Equal(RuntimeMode.Process, options.Runtime);
        Assert.Equal(2000, options.CpuMillis);
        Assert.Equal(4L << 30, options.MemoryBytes);
        Assert.Equal((21000, 21999), (options.FirstPort, options.LastPort));
        Assert.Equal("a", options.Labels["zone"]);
        Assert.Equal("ssd", options.Labels["disk"]);
        Assert.Equal("/tmp/x", options.StateDirectory);
        Assert.Equal("127.0.0.3:0", options.EffectiveHttpListen);
        Assert.False(options.Mesh);
    }

    [Theory]
    [InlineData("2000m", 2000L)]
    [InlineData("2", 2000L)]
    [InlineData("0.5", 500L)]
    public void Cpu_accepts_cores_and_millicores(string text, long millis) => Assert.Equal(millis, Parse("--cpu", text).CpuMillis);

    [Theory]
    [InlineData("--runtime", "podman", "--runtime: \"podman\" is not a runtime; use auto, docker or process")]
    [InlineData("--cpu", "two", "--cpu: \"two\" is not a CPU quantity; use cores (2, 0.5) or millicores (2000m)")]
    [InlineData("--memory", "4GB", "--memory: \"4GB\" is not a memory quantity; use for example 4Gi or 512Mi")]
    [InlineData("--ports", "21000-20000", "--ports: \"21000-20000\" is not a port range; use FIRST-LAST between 1 and 65535, for example 20000-20999")]
    [InlineData("--label", "zone", "--label: \"zone\" is not KEY=VALUE; for example --label zone=a")]
    [InlineData("--name", "Node_1", "--name: \"Node_1\" is not a valid node name; use lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit (for example node-1)")]
    [InlineData("--server", "ftp://x", "--server: \"ftp://x\" is not a control plane address; use http://HOST:PORT, for example --server http://10.0.0.1:7070")]
    public void A_bad_value_is_one_line_naming_the_flag_and_the_fix(string flag, string value, string error)
    {
        var result = NodeAgentCommandLine.Parse([flag, value]);

        Assert.Null(result.Options);
        Assert.Equal(error, result.Error);
    }

    [Fact]
    public void Unknown_flags_and_missing_values_say_what_to_do()
    {
        Assert.Equal("unknown option --nodes; run orc-agent --help for the options", NodeAgentCommandLine.Parse(["--nodes", "3"]).Error);
        Assert.Equal("--ports needs a value, for example --ports 20000-20999", NodeAgentCommandLine.Parse(["--ports"]).Error);
        Assert.True(NodeAgentCommandLine.Parse(["--help"]).Help);
    }

    private static NodeAgentOptions Parse(params string[] args)
    {
        var result = NodeAgentCommandLine.Parse(args);
        Assert.Null(result.Error);
        return result.Options!;
    }
}
