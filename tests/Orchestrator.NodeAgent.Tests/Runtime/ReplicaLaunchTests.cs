using Google.Protobuf.WellKnownTypes;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Runtime;

public sealed class ReplicaLaunchTests
{
    private static ReplicaSpec Spec()
    {
        var spec = new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = "service", Name = "web" },
            Revision = 2,
            Generation = 9,
            Node = "node-1",
            Template = new ReplicaTemplate
            {
                Driver = Driver.Docker,
                Image = "web:2",
                Resources = new Resources { CpuMillis = 250, MemoryBytes = 128L * 1024 * 1024 },
                StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(3)),
            },
        };
        spec.Template.Command.Add("serve");
        spec.Template.Args.Add("--port=${PORT}");
        spec.Template.Env.Add("GREETING", "hello");
        spec.Template.Ports.Add(new PortSpec { Name = "http", Port = 80 });
        spec.Template.Ports.Add(new PortSpec { Name = "admin", Port = 9090 });
        spec.HostPorts.Add("http", 20001);
        spec.HostPorts.Add("admin", 20002);
        return spec;
    }

    [Fact]
    public void A_scheduled_spec_becomes_a_launch_with_its_ports_limits_and_identity()
    {
        var launch = ReplicaLaunch.FromSpec("web-abc12", Spec(), "127.0.0.2");

        Assert.Equal(("web-abc12", "service", "web", 2L, 9L, "node-1", "127.0.0.2"), (launch.ReplicaId, launch.OwnerKind, launch.OwnerName, launch.Revision, launch.Generation, launch.NodeName, launch.NodeAddress));
        Assert.Equal("web:2", launch.Image);
        Assert.Equal(["serve"], launch.Command);
        Assert.Equal(["--port=${PORT}"], launch.Args);
        Assert.Equal("hello", launch.Environment["GREETING"]);
        Assert.Equal((250L, 128L * 1024 * 1024), (launch.CpuMillis, launch.MemoryBytes));
        Assert.Equal([new ReplicaPort("http", 80, 20001), new ReplicaPort("admin", 9090, 20002)], launch.Ports);
        Assert.Equal(TimeSpan.FromSeconds(3), launch.StopGrace);
    }

    [Fact]
    public void A_port_without_a_host_port_is_rejected_with_the_ports_name()
    {
        var spec = Spec();
        spec.HostPorts.Remove("admin");

        var error = Assert.Throws<ArgumentException>(() => ReplicaLaunch.FromSpec("web-abc12", spec, "127.0.0.2"));

        Assert.Contains("port \"admin\" has no host port", error.Message, StringComparison.Ordinal);
    }
}
