namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// How the node lifecycle controller judges silent nodes (docs/adr/0015-node-lifecycle.md).
/// The grace itself is <see cref="Nodes.NodeStreamOptions.NodeGrace"/>: one setting for the
/// liveness lease and for the judgement.
/// </summary>
public sealed class NodeLifecycleOptions
{
    /// <summary>How often the controller looks at node liveness; also the tick its pause detection expects.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// A gap between two of its own ticks at least this long means the control plane itself
    /// was stopped (a long GC pause, a frozen VM): every node gets a fresh grace.
    /// </summary>
    public TimeSpan PauseThreshold { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// When more than this fraction of the registered nodes is silent at once, the controller
    /// blames itself (or its network), not the nodes, and marks nothing Lost.
    /// </summary>
    public double MassSilenceFraction { get; set; } = 0.5;

    /// <summary>The mass-silence guard applies only when at least this many nodes are silent (one dead node of one is a dead node).</summary>
    public int MassSilenceMinNodes { get; set; } = 2;
}
