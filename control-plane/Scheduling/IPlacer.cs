using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// A placement: the node chosen (null when none fits), the host port allocated per declared
/// port name, and the summary stored in the replica's status to explain it
/// (docs/adr/0009-placement-explanations.md).
/// </summary>
public sealed record PlacementDecision(string? Node, IReadOnlyDictionary<string, int> HostPorts, PlacementExplanation Explanation)
{
    public bool Placed => Node is not null;
}

/// <summary>
/// Chooses a node for one replica from a snapshot. Pure: no store, no clock beyond
/// <c>now</c>; the placement loop binds the decision with a compare-and-swap write.
/// </summary>
public interface IPlacer
{
    /// <summary>A short name for explanations and logs: <c>first-fit</c>.</summary>
    string Name { get; }

    PlacementDecision Place(ReplicaTemplate template, ClusterSnapshot snapshot, DateTimeOffset now);
}
