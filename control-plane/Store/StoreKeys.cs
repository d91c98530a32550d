namespace Orchestrator.ControlPlane.Store;

/// <summary>
/// Every key the control plane writes, built in one place. Every prefix ends in '/',
/// so listing the replicas of "web" never returns those of "web2".
/// Desired spec and observed status live under separate keys, so the API (spec writer)
/// and controllers/node streams (status writers) never collide on a compare-and-swap.
/// See docs/adr/0002-store-key-layout.md.
/// </summary>
public static class StoreKeys
{
    public const string Root = "/orc/";

    // Specs (written by the API)
    public const string ServicesPrefix = Root + "services/";
    public const string JobsPrefix = Root + "jobs/";
    public const string RevisionsPrefix = Root + "revisions/services/";

    // Replicas: spec written by controllers and the scheduler, status by node streams.
    public const string ReplicasPrefix = Root + "replicas/";

    // Nodes: registration (node stream), spec (cordon: API), liveness (leased key).
    public const string NodesPrefix = Root + "nodes/";
    public const string NodeLivenessPrefix = Root + "liveness/nodes/";

    // Placement: one key per node, rewritten by every binding to it; bindings compare-and-swap on its mod revision.
    public const string AllocationsPrefix = Root + "allocations/";

    // Observed status, one prefix per kind.
    public const string StatusPrefix = Root + "status/";
    public const string ServiceStatusPrefix = StatusPrefix + "services/";
    public const string JobStatusPrefix = StatusPrefix + "jobs/";
    public const string ReplicaStatusPrefix = StatusPrefix + "replicas/";
    public const string NodeStatusPrefix = StatusPrefix + "nodes/";

    public const string EndpointsPrefix = Root + "endpoints/";

    // The endpoints version each node's agent acknowledged last: one key per node, written by the
    // control plane holding its stream (batched), read by the drain gate (docs/adr/0008-drain-protocol.md).
    public const string EndpointsAcksPrefix = Root + "acks/endpoints/";
    public const string EventsPrefix = Root + "events/";
    public const string LeaderPrefix = Root + "leader/";
    public const string ControlPlanesPrefix = Root + "controlplanes/";
    public const string MetaPrefix = Root + "meta/";

    public static string Service(string name) => ServicesPrefix + name;

    public static string ServiceStatus(string name) => ServiceStatusPrefix + name;

    /// <summary>Prefix of one service's revision history.</summary>
    public static string ServiceRevisions(string service) => RevisionsPrefix + service + "/";

    /// <summary>Revision numbers are zero-padded so key order is numeric order.</summary>
    public static string ServiceRevision(string service, long revision) =>
        ServiceRevisions(service) + revision.ToString("D12", System.Globalization.CultureInfo.InvariantCulture);

    public static string Job(string name) => JobsPrefix + name;

    public static string JobStatus(string name) => JobStatusPrefix + name;

    public static string Replica(string id) => ReplicasPrefix + id;

    public static string ReplicaStatus(string id) => ReplicaStatusPrefix + id;

    public static string Node(string name) => NodesPrefix + name;

    public static string NodeStatus(string name) => NodeStatusPrefix + name;

    public static string NodeLiveness(string name) => NodeLivenessPrefix + name;

    public static string Allocation(string node) => AllocationsPrefix + node;

    public static string Endpoints(string service) => EndpointsPrefix + service;

    public static string EndpointsAck(string node) => EndpointsAcksPrefix + node;

    public static string Event(string id) => EventsPrefix + id;

    public static string Leader(string role) => LeaderPrefix + role;

    public static string ControlPlane(string id) => ControlPlanesPrefix + id;

    public static string Meta(string name) => MetaPrefix + name;

    /// <summary>
    /// Whether <paramref name="key"/> names one object directly under <paramref name="prefix"/>
    /// (a non-empty name with no further '/'), and that name.
    /// </summary>
    public static bool TryNameOf(string key, string prefix, out string name)
    {
        if (key.StartsWith(prefix, StringComparison.Ordinal) && key.Length > prefix.Length && key.IndexOf('/', prefix.Length) < 0)
        {
            name = key[prefix.Length..];
            return true;
        }

        name = "";
        return false;
    }

    /// <summary>The name part of a key under <paramref name="prefix"/>.</summary>
    public static string NameOf(string key, string prefix) =>
        key.StartsWith(prefix, StringComparison.Ordinal) ? key[prefix.Length..] : throw new ArgumentException($"key '{key}' is not under '{prefix}'", nameof(key));
}
