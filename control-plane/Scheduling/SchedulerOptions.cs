namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>How ties between equally scored nodes are broken.</summary>
public enum TieBreak
{
    /// <summary>The node whose name sorts first wins: a lab exercise replays exactly.</summary>
    Name,

    /// <summary>A seeded hash of replica and node picks: still replays exactly for one seed, without piling onto low names.</summary>
    Random,
}

/// <summary>Which filters and scorers the scheduler runs, their weights, and how it binds.</summary>
public sealed class SchedulerOptions
{
    /// <summary>Filters in the order they run (by name). A node's explanation names the first one it failed.</summary>
    public IList<string> Filters { get; init; } = ["node-ready", "driver", "resources", "host-ports", "constraints", "max-per-node"];

    /// <summary>Scorers and their weights (by name); a scorer left out or weighted 0 is off.</summary>
    public IDictionary<string, double> Scorers { get; init; } = new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["least-allocated"] = 1,
        ["most-allocated"] = 1,
        ["balanced"] = 1,
        ["spread"] = 2,
        ["topology-spread"] = 2,
    };

    public TieBreak TieBreak { get; set; } = TieBreak.Name;

    /// <summary>Seed of <see cref="TieBreak.Random"/>.</summary>
    public int Seed { get; set; }

    /// <summary>
    /// In a big cluster, a decision stops checking nodes once this percentage of them fit, as
    /// kube-scheduler's percentageOfNodesToScore does; the next decision starts where this one
    /// stopped, so every node gets its turn. 0 (the default) adapts: every node up to 100 nodes,
    /// then 50% less 1% per 125 nodes, at least 5% and at least 100 nodes (10%, 500 nodes, of
    /// 5,000). 100 checks every node every time. A replica is only ever left pending after every
    /// node was checked.
    /// </summary>
    public int PercentageOfNodesToScore { get; set; }

    /// <summary>How many runner-up nodes an explanation keeps besides the chosen one.</summary>
    public int Alternatives { get; set; } = 3;

    /// <summary>
    /// Most compares and most operations in one binding transaction. etcd refuses more than 128
    /// per transaction by default (<c>--max-txn-ops</c>); raise both together. The default is one
    /// less: in a control plane the leader's fence adds one compare and one read to every
    /// binding transaction (docs/adr/0016-leader-election-and-fencing.md).
    /// </summary>
    public int MaxTxnOps { get; set; } = 127;

    /// <summary>
    /// Most binding transactions in flight at once. A batch decided while others are in flight
    /// goes out at once when it binds to none of their nodes (its compares are all known), and
    /// waits for the ones it shares a node with; the store then works on several batches at a
    /// time. 1 sends one transaction at a time.
    /// </summary>
    public int MaxTxnsInFlight { get; set; } = 4;
}
