namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// The values a spec gets for fields it leaves out. Applied at parse time, so a stored spec is complete and
/// a change of a default in a later version never changes a running service behind its owner's back.
/// docs/spec.md lists the same values.
/// </summary>
public static class SpecDefaults
{
    public const int Replicas = 1;
    public const long CpuMillis = 100;
    public const long MemoryBytes = 64L * 1024 * 1024;
    public static readonly TimeSpan StopGracePeriod = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan ReadinessInterval = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan LivenessInterval = TimeSpan.FromSeconds(5);

    /// <summary>Probe timeout: 1s, or the interval when that is shorter.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);
    public const int FailureThreshold = 3;
    public const int SuccessThreshold = 1;

    public const int MaxSurge = 1;
    public const int MaxUnavailable = 0;
    public static readonly TimeSpan MinReady = TimeSpan.Zero;
    public static readonly TimeSpan ProgressDeadline = TimeSpan.FromMinutes(2);

    /// <summary>How the routing mesh balances a service's published ports when the spec does not say.</summary>
    public const Orchestrator.V1.LoadBalancing LoadBalancing = Orchestrator.V1.LoadBalancing.RoundRobin;

    public const int Completions = 1;
    public const int Parallelism = 1;
    public const int BackoffLimit = 6;

    /// <summary>
    /// Limits that catch unit mistakes: a replica asking for 500 cores almost always meant 500m, and 128 cores
    /// is more than one replica gets on the machines this runs on.
    /// </summary>
    public const long MaxCpuMillis = 128 * 1000;
    public const long MinMemoryBytes = 4L * 1024 * 1024;
    public const long MaxMemoryBytes = 16L * 1024 * 1024 * 1024 * 1024;
    public const int MaxReplicas = 1_000_000;
    public const int MaxBackoffLimit = 1000;
}
