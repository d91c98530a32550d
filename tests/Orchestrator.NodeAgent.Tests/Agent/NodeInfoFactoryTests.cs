using Orchestrator.NodeAgent.Agent;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Agent;

public sealed class NodeInfoFactoryTests
{
    private const string Meminfo = "MemTotal:       24578432 kB\nMemFree:         1000000 kB\n";

    [Fact]
    public void Capacity_comes_from_the_machine_and_allocatable_keeps_a_reserve()
    {
        var info = NodeInfoFactory.Create(new NodeAgentOptions { Address = "127.0.0.2" }, ["process"], "cgroup-v1", Meminfo);

        Assert.Equal(System.Environment.ProcessorCount * 1000L, info.Capacity.CpuMillis);
        Assert.Equal(24578432L * 1024, info.Capacity.MemoryBytes);
        Assert.Equal(info.Capacity.CpuMillis - 100, info.Allocatable.CpuMillis);
        Assert.Equal(info.Capacity.MemoryBytes - (256L << 20), info.Allocatable.MemoryBytes);
        Assert.Equal("127.0.0.2", info.Address);
        Assert.Equal([Driver.Process], info.Drivers);
        Assert.Equal("cgroup-v1", info.MemoryEnforcement);
        Assert.StartsWith("linux/", info.Os, StringComparison.Ordinal);
        Assert.NotEmpty(info.AgentVersion);
    }

    [Fact]
    public void Flags_override_capacity_and_a_small_node_reserves_a_tenth()
    {
        var options = new NodeAgentOptions
        {
            CpuMillis = 500,
            MemoryBytes = 1L << 30,
            FirstPort = 21000,
            LastPort = 21999,
            Labels = new Dictionary<string, string> { ["zone"] = "a" },
        };

        var info = NodeInfoFactory.Create(options, ["docker", "process"], "rss-watch", Meminfo);

        Assert.Equal(500, info.Capacity.CpuMillis);
        Assert.Equal(450, info.Allocatable.CpuMillis);
        Assert.Equal(1L << 30, info.Capacity.MemoryBytes);
        Assert.Equal((1L << 30) - ((1L << 30) / 10), info.Allocatable.MemoryBytes);
        Assert.Equal(new PortRange { First = 21000, Last = 21999 }, info.Ports);
        Assert.Equal("a", info.Labels["zone"]);
        Assert.Equal([Driver.Docker, Driver.Process], info.Drivers);
    }

    [Fact]
    public void Meminfo_without_mem_total_reads_as_unknown()
    {
        Assert.Null(NodeInfoFactory.ReadMemTotal("MemFree: 12 kB\n"));
    }
}
