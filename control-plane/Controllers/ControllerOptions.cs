namespace Orchestrator.ControlPlane.Controllers;

/// <summary>How the controllers and the placement loop run. Registered once; a host may register its own first.</summary>
public sealed class ControllerOptions
{
    /// <summary>Whether this control plane runs the controllers and placement at all (off for API-only tests).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Workers of the service controller: different services reconcile in parallel, one service never twice at a time.</summary>
    public int ServiceWorkers { get; set; } = 2;

    /// <summary>Workers of the job controller: different jobs reconcile in parallel, one job never twice at a time.</summary>
    public int JobWorkers { get; set; } = 2;

    /// <summary>Workers of the endpoints controller: different services publish in parallel, one service never twice at a time.</summary>
    public int EndpointsWorkers { get; set; } = 2;

    /// <summary>
    /// At most one write of a service's endpoints per this interval (ADR 0020): the first change
    /// after a quiet interval is written at once, later ones wait and are written together with
    /// the latest set. Zero: every change is written as soon as it is seen.
    /// </summary>
    public TimeSpan EndpointsWriteInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Wait before the first retry of a failed job replica; doubles per failure of the job (10s, 20s, 40s, ... as Kubernetes).</summary>
    public TimeSpan JobBackoffBase { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries of failed job replicas never wait longer than this (Kubernetes caps at six minutes too).</summary>
    public TimeSpan JobBackoffMax { get; set; } = TimeSpan.FromMinutes(6);

    /// <summary>
    /// A job replica that ended stays in the store (and on its node, so its logs stay readable)
    /// this long after it ended; then it is deleted. Its outcome stays in the job's status.
    /// Deleting the job deletes its replicas at once.
    /// </summary>
    public TimeSpan FinishedReplicaRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Every key is enqueued again this often, so a missed watch event heals.</summary>
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>First retry delay after a failed pass; doubles per consecutive failure.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Retry delays never exceed this.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A replica asked to stop is deleted once its status says it ended, or after its stop
    /// grace period plus this much if nobody reports (its node is gone, no agent runs it).
    /// </summary>
    public TimeSpan StopTimeoutExtra { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A replica retired while it may serve traffic is drained first (desired DRAIN: the
    /// endpoints controller drops it) and asked to stop once every connected node acknowledged an
    /// endpoints version without it, or once this long has passed since the drain began, whichever
    /// comes first; a stop at the timeout records a Warning event naming the nodes that lagged
    /// (docs/adr/0008-drain-protocol.md; <c>orc-control-plane --drain-timeout</c>).
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>During a rollout, a new replica restarted this many times makes the rollout fail (crash loop).</summary>
    public int RolloutMaxRestarts { get; set; } = 3;

    /// <summary>How long events are kept in the store.</summary>
    public TimeSpan EventTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Wait before listing again after a watch failed (store unavailable, history compacted).</summary>
    public TimeSpan WatchRetryDelay { get; set; } = TimeSpan.FromSeconds(1);
}
