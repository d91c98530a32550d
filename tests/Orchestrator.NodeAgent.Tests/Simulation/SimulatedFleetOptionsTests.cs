using Orchestrator.NodeAgent.Simulation;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Simulation;

public sealed class SimulatedFleetOptionsTests
{
    [Fact]
    public void Nodes_get_numbered_names_their_own_loopback_addresses_and_zones_round_robin()
    {
        var options = new SimulatedFleetOptions { Nodes = 300, Zones = ["a", "b", "c"], Labels = new Dictionary<string, string> { ["tier"] = "lab" } };

        var first = SimulatedFleet.Info(options, SimulatedFleet.AgentOptions(options, 1), 1);
        var fourth = SimulatedFleet.Info(options, SimulatedFleet.AgentOptions(options, 4), 4);
        var last = SimulatedFleet.AgentOptions(options, 300);

        Assert.Equal("sim-0001", SimulatedFleet.AgentOptions(options, 1).NodeName);
        Assert.Equal("sim-0300", last.NodeName);
        Assert.Equal("127.1.0.1", first.Address);
        Assert.Equal("127.1.1.44", last.Address);
        Assert.Equal("a", first.Labels["zone"]);
        Assert.Equal("a", fourth.Labels["zone"]);
        Assert.Equal("true", first.Labels[SimulatedFleetOptions.SimulatedLabel]);
        Assert.Equal("lab", first.Labels["tier"]);
        Assert.Equal([Driver.Process, Driver.Docker], first.Drivers);
        Assert.Equal(new Resources { CpuMillis = 4000, MemoryBytes = 16L << 30 }, first.Allocatable);
        Assert.Equal(first.Capacity, first.Allocatable);
        Assert.Equal(new PortRange { First = 20000, Last = 20999 }, first.Ports);
    }

    [Fact]
    public void Without_zones_there_is_no_zone_label_and_ten_thousand_nodes_get_five_digits()
    {
        var options = new SimulatedFleetOptions { Nodes = 10_000 };

        Assert.False(SimulatedFleet.Info(options, SimulatedFleet.AgentOptions(options, 1), 1).Labels.ContainsKey("zone"));
        Assert.Equal("sim-00001", options.NodeName(1));
        Assert.Equal("sim-10000", options.NodeName(10_000));
        Assert.Equal("127.1.39.16", SimulatedFleetOptions.NodeAddress(10_000));
    }

    [Fact]
    public void Every_problem_is_named_with_its_fix()
    {
        var options = new SimulatedFleetOptions
        {
            Nodes = 10_001,
            Servers = [],
            NamePrefix = "Sim_",
            CpuMillis = 0,
            MemoryBytes = -1,
            FirstPort = 30000,
            LastPort = 20000,
            Zones = ["a", " "],
        };

        Assert.Equal(
            [
                "nodes: 10001 is out of range; give a number from 1 to 10000",
                "servers: no control plane address; give at least one, for example http://127.0.0.1:7070",
                "name prefix \"Sim_\" is not usable in a node name; use at most 40 lower-case letters, digits and '-', starting with a letter or digit",
                "cpu: 0m; it must be more than 0, for example 4000m",
                "memory: -1 bytes; it must be more than 0, for example 16Gi",
                "ports: 30000-20000 is not a port range; use FIRST-LAST between 1 and 65535",
                "zones: a zone name is empty; give names such as a, b, c",
            ],
            options.Validate());
        Assert.Empty(new SimulatedFleetOptions().Validate());
    }

    [Fact]
    public async Task A_fleet_with_bad_options_starts_nothing_and_says_what_is_wrong()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(
            () => SimulatedFleet.StartAsync(new SimulatedFleetOptions { Nodes = 0 }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.StartsWith("simulated nodes: nodes: 0 is out of range; give a number from 1 to 10000", e.Message, StringComparison.Ordinal);
    }
}
