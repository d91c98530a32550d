using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Objects;

public class SpecDiffTests
{
    private static ServiceSpec Spec()
    {
        var spec = new ServiceSpec
        {
            Name = "web",
            Replicas = 3,
            Template = new ReplicaTemplate
            {
                Driver = Driver.Docker,
                Image = "nginx:1.26",
                Resources = new Resources { CpuMillis = 250, MemoryBytes = 128L << 20 },
                Restart = RestartPolicy.Always,
            },
            Update = new UpdateStrategy { MaxSurge = new IntOrPercent { Value = 1 }, MinReady = Duration.FromTimeSpan(TimeSpan.Zero) },
        };
        spec.Template.Env.Add("GREETING", "hello");
        spec.Template.Ports.Add(new PortSpec { Name = "http", Port = 80, Published = 8080, Protocol = Protocol.Http });
        return spec;
    }

    [Fact]
    public void Identical_specs_have_no_changes() => Assert.Empty(SpecDiff.Describe(Spec(), Spec()));

    [Fact]
    public void Changes_are_described_field_by_field_in_the_words_of_the_spec_file()
    {
        var after = Spec();
        after.Replicas = 5;
        after.Template.Image = "nginx:1.27";
        after.Template.Env["GREETING"] = "hi";
        after.Template.Env["EXTRA"] = "1";
        after.Template.Resources.MemoryBytes = 256L << 20;
        after.Template.Ports[0].Published = 9090;
        after.Template.Restart = RestartPolicy.OnFailure;
        after.Update.MinReady = Duration.FromTimeSpan(TimeSpan.FromSeconds(5));

        Assert.Equal(
            [
                "replicas 3 -> 5",
                "template: image nginx:1.26 -> nginx:1.27",
                "template: env.EXTRA (none) -> 1",
                "template: env.GREETING hello -> hi",
                "template: resources.memory 128Mi -> 256Mi",
                "template: ports[0].published 8080 -> 9090",
                "template: restart always -> on-failure",
                "update.minReady 0s -> 5s",
            ],
            SpecDiff.Describe(Spec(), after));
    }

    [Fact]
    public void Counts_or_percentages_and_constraints_read_as_the_spec_file_writes_them()
    {
        var before = Spec();
        before.Template.Placement = new Placement();
        before.Template.Placement.Constraints.Add(new Constraint { Key = "zone", Operator = ConstraintOperator.Equal, Values = { "a" }, Text = "zone == a" });
        var after = before.Clone();
        after.Update.MaxSurge = new IntOrPercent { Value = 25, Percent = true };
        after.Template.Placement.Constraints[0] = new Constraint { Key = "zone", Operator = ConstraintOperator.Equal, Values = { "b" }, Text = "zone == b" };

        Assert.Equal(
            ["template: placement.constraints [zone == a] -> [zone == b]", "update.maxSurge 1 -> 25%"],
            SpecDiff.Describe(before, after));
    }

    [Fact]
    public void A_probe_added_or_a_list_resized_is_described_whole()
    {
        var after = Spec();
        after.Template.Health = new HealthSpec { Readiness = new Probe { Http = "/", Port = "http" } };
        after.Template.Command.Add("python3");

        Assert.Equal(
            [
                "template: command [] -> [python3]",
                "template: health (none) -> { \"readiness\": { \"http\": \"/\", \"port\": \"http\" } }",
            ],
            SpecDiff.Describe(Spec(), after));
    }
}
