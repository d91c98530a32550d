namespace Orchestrator.ControlPlane.Hosting;

/// <summary>How a control plane listens, which store it uses, and who it is.</summary>
public sealed class ControlPlaneOptions
{
    public const string DefaultListen = "127.0.0.1:7070";
    public const string DefaultHttpListen = "127.0.0.1:7071";
    public const string DefaultStore = "sqlite://./orc-data/state.db";

    /// <summary>The gRPC endpoint, <c>host:port</c>: HTTP/2 only, plain text (h2c). Port 0 picks a free port.</summary>
    public string Listen { get; set; } = DefaultListen;

    /// <summary>The HTTP/1.1 endpoint for <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>, <c>host:port</c>. Port 0 picks a free port.</summary>
    public string HttpListen { get; set; } = DefaultHttpListen;

    /// <summary>The state store: <c>sqlite://path/state.db</c> or <c>etcd://host:port,host:port</c>.</summary>
    public string Store { get; set; } = DefaultStore;

    /// <summary>
    /// The gRPC address other machines reach this control plane at (<c>http://10.0.0.1:7070</c>),
    /// recorded in its member record and the leader key; null: the bound <see cref="Listen"/> address.
    /// </summary>
    public string? Advertise { get; set; }

    /// <summary>How long events are kept (<c>--event-ttl</c>); see <c>ControllerOptions.EventTtl</c>.</summary>
    public TimeSpan EventTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a job's ended replica (and its logs) is kept (<c>--job-replica-retention</c>); see <c>ControllerOptions.FinishedReplicaRetention</c>.</summary>
    public TimeSpan JobReplicaRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long a retiring replica waits for every connected node to acknowledge the endpoints
    /// version without it before it is asked to stop anyway (<c>--drain-timeout</c>); see
    /// <c>ControllerOptions.DrainTimeout</c> and docs/adr/0008-drain-protocol.md.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>This control plane's identity among several on one store; defaults to the host name.</summary>
    public string MemberId { get; set; } = DefaultMemberId();

    /// <summary>
    /// How long a node may stay silent before it is NotReady and its replicas Lost (the liveness
    /// lease TTL, docs/adr/0015-node-lifecycle.md); null keeps <see cref="Nodes.NodeStreamOptions"/>'s
    /// default. Give every control plane on one store the same value.
    /// </summary>
    public TimeSpan? NodeGrace { get; set; }

    public static string DefaultMemberId() =>
        Environment.MachineName.ToLowerInvariant() is { Length: > 0 } host ? host : "control-plane";
}
