namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// What a reconcile pass asks of its work queue: nothing more (<see cref="Done"/>), or
/// another pass after a delay because something is waiting on time (a timeout, a deadline).
/// A failure is an exception: the queue retries the key with capped exponential backoff.
/// </summary>
public readonly record struct ReconcileResult
{
    private ReconcileResult(TimeSpan? requeueAfter) => RequeueAfter = requeueAfter;

    /// <summary>The state matches the desired state; the next pass comes from a watch event or the resync.</summary>
    public static ReconcileResult Done { get; }

    /// <summary>When to look again, null for <see cref="Done"/>.</summary>
    public TimeSpan? RequeueAfter { get; }

    /// <summary>Look at the key again after <paramref name="delay"/> (0: as soon as a worker is free).</summary>
    public static ReconcileResult After(TimeSpan delay) => new(delay < TimeSpan.Zero ? TimeSpan.Zero : delay);

    /// <summary>The earlier of two results: a requeue wins over done, the shorter delay over the longer.</summary>
    public static ReconcileResult Earliest(ReconcileResult a, ReconcileResult b) =>
        (a.RequeueAfter, b.RequeueAfter) switch
        {
            (null, _) => b,
            (_, null) => a,
            ({ } x, { } y) => x <= y ? a : b,
        };
}
