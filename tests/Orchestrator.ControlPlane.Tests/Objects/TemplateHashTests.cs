using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Objects;

public class TemplateHashTests
{
    private static ReplicaTemplate Template(params (string Key, string Value)[] env)
    {
        var t = new ReplicaTemplate { Driver = Driver.Docker, Image = "nginx:1.27", Resources = new Resources { CpuMillis = 250, MemoryBytes = 128 << 20 } };
        foreach (var (k, v) in env)
        {
            t.Env.Add(k, v);
        }

        t.Ports.Add(new PortSpec { Name = "http", Port = 80, Protocol = Protocol.Http });
        return t;
    }

    [Fact]
    public void Equal_templates_built_in_different_map_orders_have_equal_hashes()
    {
        var a = Template(("A", "1"), ("B", "2"), ("C", "3"));
        var b = Template(("C", "3"), ("A", "1"), ("B", "2"));

        Assert.Equal(TemplateHash.Compute(a), TemplateHash.Compute(b));
        Assert.Matches("^[0-9a-f]{64}$", TemplateHash.Compute(a));
    }

    [Fact]
    public void Any_field_change_changes_the_hash()
    {
        var baseline = TemplateHash.Compute(Template(("A", "1")));
        var image = Template(("A", "1"));
        image.Image = "nginx:1.28";
        var env = Template(("A", "2"));
        var grace = Template(("A", "1"));
        grace.StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(5));

        Assert.NotEqual(baseline, TemplateHash.Compute(image));
        Assert.NotEqual(baseline, TemplateHash.Compute(env));
        Assert.NotEqual(baseline, TemplateHash.Compute(grace));
    }

    [Fact]
    public void Hashing_does_not_change_the_template_it_is_given()
    {
        var t = Template(("B", "2"), ("A", "1"));

        TemplateHash.Compute(t);

        Assert.Equal(["B", "A"], t.Env.Keys);
    }
}
