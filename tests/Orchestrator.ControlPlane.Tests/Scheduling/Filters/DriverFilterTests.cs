using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Filters;

public sealed class DriverFilterTests
{
    private readonly DriverFilter _filter = new();

    private (string? Rule, string Detail) Check(string drivers, Driver wanted)
    {
        var snapshot = Snapshot(Node("node-1", drivers: drivers));
        var context = Context(Request(driver: wanted), snapshot);
        var node = snapshot.NodeOf("node-1");
        return (_filter.Filter(context, node), _filter.Describe(context, node));
    }

    [Fact]
    public void Is_enabled_by_the_name_driver()
    {
        Assert.Equal("driver", _filter.Name);
    }

    [Theory]
    [InlineData("docker", Driver.Docker, "offers docker, needs docker")]
    [InlineData("docker,process", Driver.Process, "offers docker and process, needs process")]
    [InlineData("process", Driver.Process, "offers process, needs process")]
    public void A_node_offering_the_driver_passes(string drivers, Driver wanted, string detail)
    {
        Assert.Equal((null, detail), Check(drivers, wanted));
    }

    [Theory]
    [InlineData("process", Driver.Docker, "missing driver docker", "offers process, needs docker")]
    [InlineData("docker", Driver.Process, "missing driver process", "offers docker, needs process")]
    [InlineData("", Driver.Process, "missing driver process", "offers no driver, needs process")]
    public void A_node_without_the_driver_is_rejected_with_what_it_offers(string drivers, Driver wanted, string rule, string detail)
    {
        Assert.Equal((rule, detail), Check(drivers, wanted));
    }

    [Fact]
    public void A_template_that_leaves_the_driver_unspecified_needs_docker()
    {
        Assert.Equal(Driver.Docker, Request(driver: Driver.Unspecified).Driver);
        Assert.Equal(("missing driver docker", "offers process, needs docker"), Check("process", Driver.Unspecified));
        Assert.Equal((null, "offers docker, needs docker"), Check("docker", Driver.Unspecified));
    }
}
