namespace Orchestrator.ControlPlane.Scheduling.Scorers;

/// <summary>
/// A preference among the nodes that passed every filter: 0 (worst) to 100 (best).
/// Decisions add the scores weighted by the options; the node with the highest total wins.
/// </summary>
public interface IScorer
{
    /// <summary>The name options weigh it by: <c>least-allocated</c>.</summary>
    string Name { get; }

    /// <summary>Whether the scorer has a say for this request (binpack and spread exclude each other).</summary>
    bool AppliesTo(PlacementRequest request);

    double Score(PlacementContext context, SchedulingNode node);

    /// <summary>Why <paramref name="node"/> got <paramref name="score"/>, in a few words: <c>3 of 4 cpu free after placing</c>.</summary>
    string Describe(PlacementContext context, SchedulingNode node, double score);
}
