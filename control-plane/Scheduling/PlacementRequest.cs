using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// One replica to place, with what every filter and scorer asks of its template worked out
/// once (a decision visits every node, so nothing here is recomputed per node).
/// </summary>
public sealed class PlacementRequest
{
    private static readonly Placement NoPlacement = new();

    public PlacementRequest(string replicaId, OwnerRef? owner, ReplicaTemplate? template)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        ReplicaId = replicaId;
        Owner = ClusterSnapshot.OwnerKey(owner);
        Template = template ?? new ReplicaTemplate();
        CpuMillis = Template.Resources?.CpuMillis ?? 0;
        MemoryBytes = Template.Resources?.MemoryBytes ?? 0;
        Driver = Template.Driver == Driver.Unspecified ? Driver.Docker : Template.Driver;
        PortNames = [.. Template.Ports.Select(p => p.Name)];
        var placement = Template.Placement ?? NoPlacement;
        Constraints = placement.Constraints;
        ConstraintRules = [.. Constraints.Select(Filters.ConstraintFilter.RuleOf)];
        Strategy = placement.Strategy == PlacementStrategy.Binpack ? PlacementStrategy.Binpack : PlacementStrategy.Spread;
        MaxPerNode = placement.MaxPerNode;
        SpreadBy = placement.SpreadBy ?? "";
    }

    private PlacementRequest(string replicaId, PlacementRequest same)
    {
        ReplicaId = replicaId;
        Owner = same.Owner;
        Template = same.Template;
        CpuMillis = same.CpuMillis;
        MemoryBytes = same.MemoryBytes;
        Driver = same.Driver;
        PortNames = same.PortNames;
        Constraints = same.Constraints;
        ConstraintRules = same.ConstraintRules;
        Strategy = same.Strategy;
        MaxPerNode = same.MaxPerNode;
        SpreadBy = same.SpreadBy;
    }

    public string ReplicaId { get; }

    /// <summary>The owner key (<c>service/web</c>); empty for a replica nobody owns.</summary>
    public string Owner { get; }

    public ReplicaTemplate Template { get; }

    public long CpuMillis { get; }

    public long MemoryBytes { get; }

    /// <summary>The driver the replica needs (docker when the template leaves it unset).</summary>
    public Driver Driver { get; }

    /// <summary>Declared port names, in order: one host port each.</summary>
    public IReadOnlyList<string> PortNames { get; }

    public IReadOnlyList<Constraint> Constraints { get; }

    /// <summary>The rule counted for a node failing each constraint, worked out once.</summary>
    public IReadOnlyList<string> ConstraintRules { get; }

    public PlacementStrategy Strategy { get; }

    /// <summary>At most this many replicas of the owner on one node; 0 means no limit.</summary>
    public int MaxPerNode { get; }

    /// <summary>Node label to spread the owner's replicas across; empty for none.</summary>
    public string SpreadBy { get; }

    /// <summary>The same request for another replica of the same owner and template: nothing is worked out again.</summary>
    public PlacementRequest For(string replicaId)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        return new PlacementRequest(replicaId, this);
    }

    public static string DriverName(Driver driver) => driver switch
    {
        Driver.Docker => "docker",
        Driver.Process => "process",
        _ => driver.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// What a decision works out once before it visits the nodes: the request, the snapshot,
/// where the owner's replicas already run, and their count per value of the spread label.
/// </summary>
public sealed class PlacementContext
{
    public PlacementContext(PlacementRequest request, ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(snapshot);
        Request = request;
        Snapshot = snapshot;
        OwnerPlacement = request.Owner.Length == 0 ? null : snapshot.Owner(request.Owner);
        if (request.SpreadBy.Length > 0 && OwnerPlacement is not null)
        {
            foreach (var (node, count) in OwnerPlacement.PerNode)
            {
                if (node.Label(request.SpreadBy) is { } value)
                {
                    TopologyCounts[value] = TopologyCounts.GetValueOrDefault(value) + count;
                }
            }
        }
    }

    public PlacementRequest Request { get; }

    public ClusterSnapshot Snapshot { get; }

    /// <summary>Where the owner's replicas run now; null when none does.</summary>
    public OwnerPlacement? OwnerPlacement { get; }

    /// <summary>The owner's replicas per value of <see cref="PlacementRequest.SpreadBy"/>.</summary>
    public Dictionary<string, int> TopologyCounts { get; } = new(StringComparer.Ordinal);

    /// <summary>Replicas of the owner already on <paramref name="node"/>.</summary>
    public int OwnerReplicasOn(SchedulingNode node) => OwnerPlacement?.CountOn(node) ?? 0;
}
