namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>
/// A feasibility rule: can this node take this replica at all? Decisions call
/// <see cref="Filter"/> for every node, so it returns a constant rule name and allocates
/// nothing; <see cref="Describe"/> gives the numbers for <c>orc explain</c>, on demand.
/// </summary>
public interface IFilter
{
    /// <summary>The name options enable it by: <c>resources</c>.</summary>
    string Name { get; }

    /// <summary>Null when <paramref name="node"/> passes; otherwise the rule it fails, as counted in a pending replica's reason (<c>insufficient memory</c>).</summary>
    string? Filter(PlacementContext context, SchedulingNode node);

    /// <summary>Why <paramref name="node"/> failed, with numbers: <c>memory 1.8Gi of 2Gi used, needs 512Mi</c>.</summary>
    string Describe(PlacementContext context, SchedulingNode node);
}
