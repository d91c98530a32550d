namespace Orchestrator.ControlPlane.Specs;

/// <summary>The field names accepted at each level of a spec; a test keeps docs/spec.md in step with them.</summary>
internal static class SpecSchema
{
    /// <summary>Fields of the replica template: a change of any of them makes a new service revision.</summary>
    public static readonly string[] TemplateFields =
        ["driver", "image", "command", "args", "env", "resources", "ports", "health", "restart", "stopGracePeriod", "placement"];

    public static readonly string[] ServiceFields = ["kind", "name", "replicas", .. TemplateFields, "update", "loadBalancing"];

    public static readonly string[] JobFields = ["kind", "name", "completions", "parallelism", "backoffLimit", .. TemplateFields];

    public static readonly string[] ResourceFields = ["cpu", "memory"];

    public static readonly string[] PortFields = ["name", "port", "published", "protocol"];

    public static readonly string[] HealthFields = ["readiness", "liveness"];

    public static readonly string[] ProbeFields =
        ["http", "tcp", "exec", "port", "interval", "timeout", "initialDelay", "failureThreshold", "successThreshold"];

    public static readonly string[] UpdateFields = ["maxSurge", "maxUnavailable", "minReady", "progressDeadline", "onFailure"];

    public static readonly string[] PlacementFields = ["constraints", "strategy", "maxPerNode", "spreadBy"];

    public static readonly string[] Kinds = ["Service", "Job"];

    public static readonly string[] Drivers = ["docker", "process"];

    public static readonly string[] Protocols = ["http", "tcp"];

    public static readonly string[] RestartPolicies = ["always", "on-failure", "never"];

    public static readonly string[] OnFailureActions = ["rollback", "pause"];

    public static readonly string[] Strategies = ["spread", "binpack"];

    /// <summary>How the routing mesh balances a service's published ports (<c>loadBalancing</c>).</summary>
    public static readonly string[] LoadBalancingPolicies = ["round-robin", "least-requests", "power-of-two-choices"];

    /// <summary>Every field name and enum word the parser accepts, at any level.</summary>
    public static IEnumerable<string> AllWords() =>
        new[]
        {
            ServiceFields, JobFields, ResourceFields, PortFields, HealthFields, ProbeFields, UpdateFields, PlacementFields,
            Kinds, Drivers, Protocols, RestartPolicies, OnFailureActions, Strategies, LoadBalancingPolicies,
        }.SelectMany(x => x).Distinct(StringComparer.Ordinal);
}
