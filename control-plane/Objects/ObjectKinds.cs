using System.Text.RegularExpressions;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>
/// How one kind of object is laid out in the store: the key prefix of its spec (the object
/// itself, status left empty), the prefix of its observed status when it has one, and how
/// the two are merged into the API's <see cref="V1.Object"/>.
/// </summary>
public sealed partial class ObjectKindInfo
{
    private readonly Func<KeyValue, KeyValue?, V1.Object> _merge;
    private readonly Func<V1.Object, string?> _owner;

    private ObjectKindInfo(ObjectKind kind, string singular, string specPrefix, string? statusPrefix, bool dnsNames, Func<KeyValue, KeyValue?, V1.Object> merge, Func<V1.Object, string?> owner)
    {
        Kind = kind;
        Singular = singular;
        SpecPrefix = specPrefix;
        StatusPrefix = statusPrefix;
        DnsNames = dnsNames;
        _merge = merge;
        _owner = owner;
    }

    public ObjectKind Kind { get; }

    /// <summary>The kind as people write it: <c>service</c>, <c>job</c>, ...</summary>
    public string Singular { get; }

    public string SpecPrefix { get; }

    public string? StatusPrefix { get; }

    /// <summary>Whether names must be DNS labels (services, jobs, nodes).</summary>
    public bool DnsNames { get; }

    public string SpecKey(string name) => SpecPrefix + name;

    public string? StatusKey(string name) => StatusPrefix is null ? null : StatusPrefix + name;

    /// <summary>The common prefix of the spec and status keys: what a watch of this kind follows.</summary>
    public string WatchPrefix => StatusPrefix is null ? SpecPrefix : StoreKeys.Root;

    /// <summary>Merges a spec key and its status key (if any) into one object; sets meta.resource_version.</summary>
    public V1.Object Merge(KeyValue spec, KeyValue? status) => _merge(spec, status);

    /// <summary>The owner as <c>kind/name</c> (replicas: the service or job; events: the object), null if none.</summary>
    public string? OwnerOf(V1.Object obj) => _owner(obj);

    public static ObjectKindInfo Service { get; } = new(
        ObjectKind.Service, "service", StoreKeys.ServicesPrefix, StoreKeys.ServiceStatusPrefix, dnsNames: true,
        (spec, status) =>
        {
            var s = ProtoJson.Decode<V1.Service>(spec.Value, spec.Key);
            s.Status = status is null ? null : ProtoJson.Decode<ServiceStatus>(status.Value, status.Key);
            s.Meta = WithVersion(s.Meta, spec, status);
            return new V1.Object { Service = s };
        },
        _ => null);

    public static ObjectKindInfo Job { get; } = new(
        ObjectKind.Job, "job", StoreKeys.JobsPrefix, StoreKeys.JobStatusPrefix, dnsNames: true,
        (spec, status) =>
        {
            var j = ProtoJson.Decode<V1.Job>(spec.Value, spec.Key);
            j.Status = status is null ? null : ProtoJson.Decode<JobStatus>(status.Value, status.Key);
            j.Meta = WithVersion(j.Meta, spec, status);
            return new V1.Object { Job = j };
        },
        _ => null);

    public static ObjectKindInfo Replica { get; } = new(
        ObjectKind.Replica, "replica", StoreKeys.ReplicasPrefix, StoreKeys.ReplicaStatusPrefix, dnsNames: false,
        (spec, status) =>
        {
            var r = ProtoJson.Decode<V1.Replica>(spec.Value, spec.Key);
            r.Status = status is null ? null : ProtoJson.Decode<ReplicaStatus>(status.Value, status.Key);
            r.Meta = WithVersion(r.Meta, spec, status);
            return new V1.Object { Replica = r };
        },
        o => o.Replica.Spec?.Owner is { } owner ? $"{owner.Kind}/{owner.Name}" : null);

    public static ObjectKindInfo Node { get; } = new(
        ObjectKind.Node, "node", StoreKeys.NodesPrefix, StoreKeys.NodeStatusPrefix, dnsNames: true,
        (spec, status) =>
        {
            var n = ProtoJson.Decode<V1.Node>(spec.Value, spec.Key);
            n.Status = status is null ? null : ProtoJson.Decode<NodeStatus>(status.Value, status.Key);
            n.Meta = WithVersion(n.Meta, spec, status);
            return new V1.Object { Node = n };
        },
        _ => null);

    public static ObjectKindInfo Event { get; } = new(
        ObjectKind.Event, "event", StoreKeys.EventsPrefix, null, dnsNames: false,
        (spec, _) => new V1.Object { Event = ProtoJson.Decode<V1.Event>(spec.Value, spec.Key) },
        o => o.Event.Object is { } target ? $"{target.Kind}/{target.Name}" : null);

    public static ObjectKindInfo Endpoints { get; } = new(
        ObjectKind.Endpoints, "endpoints", StoreKeys.EndpointsPrefix, null, dnsNames: true,
        (spec, _) =>
        {
            // The version of a set is the store revision that wrote it (ADR 0020).
            var e = ProtoJson.Decode<ServiceEndpoints>(spec.Value, spec.Key);
            e.Version = spec.ModRevision;
            return new V1.Object { Endpoints = e };
        },
        _ => null);

    public static ObjectKindInfo ControlPlane { get; } = new(
        ObjectKind.ControlPlane, "controlplane", StoreKeys.ControlPlanesPrefix, null, dnsNames: false,
        (spec, _) => new V1.Object { ControlPlane = ProtoJson.Decode<ControlPlaneMember>(spec.Value, spec.Key) },
        _ => null);

    private static readonly ObjectKindInfo[] All = [Service, Job, Replica, Node, Event, Endpoints, ControlPlane];

    /// <exception cref="InvalidObjectRequestException">The kind is unspecified or unknown.</exception>
    public static ObjectKindInfo For(ObjectKind kind) =>
        All.FirstOrDefault(k => k.Kind == kind)
        ?? throw new InvalidObjectRequestException(
            kind == ObjectKind.Unspecified
                ? $"the kind is missing; set it to one of: {string.Join(", ", All.Select(k => k.Singular))}"
                : $"unknown kind {kind}; use one of: {string.Join(", ", All.Select(k => k.Singular))}");

    /// <summary>Parses a kind as people write it, singular or plural, any case (<c>service</c>, <c>Services</c>); null if unknown.</summary>
    public static ObjectKindInfo? Parse(string word)
    {
        var w = word.Trim().ToLowerInvariant().Replace("-", "", StringComparison.Ordinal);
        return All.FirstOrDefault(k => w == k.Singular || w == k.Singular + "s");
    }

    /// <exception cref="InvalidObjectRequestException">The name is empty or not valid for this kind.</exception>
    public void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new InvalidObjectRequestException($"the {Singular} name is missing; give the name of the {Singular}");
        }

        if (DnsNames)
        {
            if (name.Length > 63 || !DnsLabel().IsMatch(name))
            {
                throw new InvalidObjectRequestException($"\"{name}\" is not a valid {Singular} name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit");
            }
        }
        else if (name.Length > 253 || name.Any(c => c == '/' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new InvalidObjectRequestException($"\"{name}\" is not a valid {Singular} name; it must be at most 253 characters without '/' or spaces");
        }
    }

    private static ObjectMeta WithVersion(ObjectMeta? meta, KeyValue spec, KeyValue? status)
    {
        meta ??= new ObjectMeta();
        meta.ResourceVersion = Math.Max(spec.ModRevision, status?.ModRevision ?? 0);
        return meta;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
