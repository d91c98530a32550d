using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Filters;

public sealed class ConstraintFilterTests
{
    private readonly ConstraintFilter _filter = new();

    private (string? Rule, string Detail) Check(string labels, string constraints)
    {
        var snapshot = Snapshot(Node("node-1", labels: labels));
        var context = Context(Request(constraints: constraints), snapshot);
        var node = snapshot.NodeOf("node-1");
        return (_filter.Filter(context, node), _filter.Describe(context, node));
    }

    [Fact]
    public void Is_enabled_by_the_name_constraints()
    {
        Assert.Equal("constraints", _filter.Name);
    }

    [Theory]
    [InlineData("zone=a", "zone == a")]
    [InlineData("zone=b", "zone != a")]
    [InlineData("", "zone != a")]
    [InlineData("zone=b", "zone in (a, b)")]
    [InlineData("zone=c", "zone not in (a, b)")]
    [InlineData("", "zone not in (a, b)")]
    [InlineData("zone=a,disk=ssd", "zone == a; disk in (ssd, nvme)")]
    [InlineData("", "")]
    public void A_node_whose_labels_satisfy_every_constraint_passes(string labels, string constraints)
    {
        Assert.Equal((null, "labels match every constraint"), Check(labels, constraints));
    }

    [Theory]
    [InlineData("zone=b", "zone == a", "not matching zone == a", "label zone is b, needs zone == a")]
    [InlineData("", "zone == a", "not matching zone == a", "has no label zone, needs zone == a")]
    [InlineData("zone=a", "zone != a", "not matching zone != a", "label zone is a, needs zone != a")]
    [InlineData("zone=c", "zone in (a, b)", "not matching zone in (a, b)", "label zone is c, needs zone in (a, b)")]
    [InlineData("", "zone in (a, b)", "not matching zone in (a, b)", "has no label zone, needs zone in (a, b)")]
    [InlineData("zone=b", "zone not in (a, b)", "not matching zone not in (a, b)", "label zone is b, needs zone not in (a, b)")]
    public void A_node_failing_a_constraint_is_rejected_with_the_constraint_as_written(string labels, string constraints, string rule, string detail)
    {
        Assert.Equal((rule, detail), Check(labels, constraints));
    }

    [Fact]
    public void The_first_constraint_a_node_fails_is_the_one_reported()
    {
        Assert.Equal(
            ("not matching zone == a", "label zone is b, needs zone == a"),
            Check("disk=hdd,zone=b", "disk != ssd; zone == a; disk == ssd"));
    }

    [Fact]
    public void Label_values_are_compared_exactly()
    {
        Assert.Equal("not matching zone == a", Check("zone=A", "zone == a").Rule);
        Assert.Equal("not matching zone in (a, b)", Check("zone=aa", "zone in (a, b)").Rule);
    }

    [Fact]
    public void A_constraint_built_without_its_text_is_named_in_the_canonical_form()
    {
        var constraint = new Constraint { Key = "region", Operator = ConstraintOperator.NotIn };
        constraint.Values.AddRange(["eu", "us"]);

        Assert.Equal("not matching region not in (eu, us)", ConstraintFilter.RuleOf(constraint));
    }

    [Fact]
    public void A_constraint_without_an_operator_is_never_satisfied()
    {
        var constraint = new Constraint { Key = "zone", Values = { "a" } };

        Assert.False(ConstraintFilter.Satisfied(constraint, "a"));
        Assert.False(ConstraintFilter.Satisfied(constraint, null));
    }
}
