using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>
/// The node's labels must satisfy every placement constraint: <c>==</c>, <c>!=</c>,
/// <c>in (a, b)</c>, <c>not in (a, b)</c>. A node without the label fails <c>==</c> and
/// <c>in</c>, and passes <c>!=</c> and <c>not in</c> (as in Kubernetes' NotIn and Nomad's !=).
/// </summary>
public sealed class ConstraintFilter : IFilter
{
    public string Name => "constraints";

    public string? Filter(PlacementContext context, SchedulingNode node)
    {
        var constraints = context.Request.Constraints;
        for (var i = 0; i < constraints.Count; i++)
        {
            if (!Satisfied(constraints[i], node.Label(constraints[i].Key)))
            {
                return context.Request.ConstraintRules[i];
            }
        }

        return null;
    }

    public string Describe(PlacementContext context, SchedulingNode node)
    {
        foreach (var constraint in context.Request.Constraints)
        {
            var value = node.Label(constraint.Key);
            if (!Satisfied(constraint, value))
            {
                var has = value is null ? $"has no label {constraint.Key}" : $"label {constraint.Key} is {value}";
                return $"{has}, needs {TextOf(constraint)}";
            }
        }

        return "labels match every constraint";
    }

    public static bool Satisfied(Constraint constraint, string? value) => constraint.Operator switch
    {
        ConstraintOperator.Equal => value is not null && constraint.Values.Count > 0 && value == constraint.Values[0],
        ConstraintOperator.NotEqual => value is null || constraint.Values.Count == 0 || value != constraint.Values[0],
        ConstraintOperator.In => value is not null && constraint.Values.Contains(value),
        ConstraintOperator.NotIn => value is null || !constraint.Values.Contains(value),
        _ => false,
    };

    /// <summary>The rule counted for a node that fails <paramref name="constraint"/>: <c>not matching zone == a</c>.</summary>
    public static string RuleOf(Constraint constraint) => "not matching " + TextOf(constraint);

    private static string TextOf(Constraint constraint)
    {
        if (constraint.Text.Length > 0)
        {
            return constraint.Text;
        }

        var values = string.Join(", ", constraint.Values);
        return constraint.Operator switch
        {
            ConstraintOperator.Equal => $"{constraint.Key} == {values}",
            ConstraintOperator.NotEqual => $"{constraint.Key} != {values}",
            ConstraintOperator.In => $"{constraint.Key} in ({values})",
            ConstraintOperator.NotIn => $"{constraint.Key} not in ({values})",
            _ => $"{constraint.Key} ? {values}",
        };
    }
}
