using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Orchestrator.V1;

/// <summary>
/// Endpoints deltas (docs/adr/0020-endpoints.md): what changed between two sets of one service,
/// and how a set is moved on by one. The control plane computes them once per store change
/// (<see cref="Diff"/>), the agent applies them (<see cref="Apply"/>); both live here so that the
/// two sides agree on what a port's fields are and how endpoints are ordered.
/// </summary>
/// <remarks>
/// A delta keeps the service's ports and their order: it changes each port's endpoints (by
/// replica id: upserted, removed) and, when they changed, the port's own fields. Any change
/// a delta cannot say (ports added, removed, renamed or reordered, a service-level field other
/// than the version and time, two endpoints of one replica in one port) is sent as the whole
/// set instead. The port's own fields are every field of <see cref="PortEndpoints"/> but its
/// endpoints, read through the message descriptor, so a field added to it later travels in
/// deltas with no change here.
/// </remarks>
public static class EndpointsDeltas
{
    /// <summary>The order of endpoints within a port, as the endpoints planner writes them: address, port, replica id.</summary>
    public static IComparer<ReplicaEndpoint> Order { get; } = Comparer<ReplicaEndpoint>.Create(Compare);

    /// <summary>
    /// What changed from <paramref name="before"/> to <paramref name="after"/> (two sets of one
    /// service); null when the change cannot be said as a delta and the whole set must be sent.
    /// </summary>
    public static ServiceEndpointsDiff? Diff(ServiceEndpoints before, ServiceEndpoints after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        if (before.Ports.Count != after.Ports.Count || !ServiceFieldsEqual(before, after))
        {
            return null;
        }

        var ports = new List<PortDiff>();
        for (var i = 0; i < after.Ports.Count; i++)
        {
            var old = before.Ports[i];
            var now = after.Ports[i];
            if (old.Port != now.Port)
            {
                return null;
            }

            var known = new Dictionary<string, ReplicaEndpoint>(old.Endpoints.Count, StringComparer.Ordinal);
            foreach (var e in old.Endpoints)
            {
                if (!known.TryAdd(e.Replica, e))
                {
                    return null;
                }
            }

            List<ReplicaEndpoint>? added = null;
            List<ReplicaEndpoint>? changed = null;
            var seen = new HashSet<string>(now.Endpoints.Count, StringComparer.Ordinal);
            foreach (var e in now.Endpoints)
            {
                if (!seen.Add(e.Replica))
                {
                    return null;
                }

                if (!known.TryGetValue(e.Replica, out var was))
                {
                    (added ??= []).Add(e);
                }
                else if (!was.Equals(e))
                {
                    (changed ??= []).Add(e);
                }
            }

            List<string>? removed = null;
            if (seen.Count - (added?.Count ?? 0) != known.Count)
            {
                foreach (var e in old.Endpoints)
                {
                    if (!seen.Contains(e.Replica))
                    {
                        (removed ??= []).Add(e.Replica);
                    }
                }
            }

            var metadata = PortFieldsEqual(old, now) ? null : PortFields(now);
            if (metadata is not null || added is not null || changed is not null || removed is not null)
            {
                ports.Add(new PortDiff(now.Port, metadata, added ?? [], changed ?? [], removed ?? []));
            }
        }

        return new ServiceEndpointsDiff(after.Service, after.Version, after.ChangedAt, ports);
    }

    /// <summary>
    /// <paramref name="current"/> moved on by <paramref name="delta"/>, as a new set (the current
    /// one is not changed). Removing an endpoint that is not there changes nothing; a port the
    /// set does not have is added only when the delta carries its fields, else left out. Either
    /// way the next full set sent after a registration replaces the whole table.
    /// </summary>
    public static ServiceEndpoints Apply(ServiceEndpoints current, EndpointsDelta delta)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(delta);
        var byPort = new Dictionary<string, PortEndpointsDelta>(StringComparer.Ordinal);
        foreach (var port in delta.Ports)
        {
            byPort[port.Port] = port;
        }

        var result = ServiceFields(current);
        result.Version = delta.Version;
        result.ChangedAt = delta.ChangedAt;
        foreach (var port in current.Ports)
        {
            if (!byPort.Remove(port.Port, out var change))
            {
                result.Ports.Add(port);
                continue;
            }

            var next = change.Metadata is { } metadata ? PortFields(metadata) : PortFields(port);
            next.Port = port.Port;
            next.Endpoints.AddRange(Merge(port.Endpoints, change));
            result.Ports.Add(next);
        }

        foreach (var change in delta.Ports)
        {
            if (byPort.ContainsKey(change.Port) && change.Metadata is { } metadata)
            {
                var next = PortFields(metadata);
                next.Port = change.Port;
                next.Endpoints.AddRange(change.Upserted.Order(Order));
                result.Ports.Add(next);
            }
        }

        return result;
    }

    /// <summary>Every field of <paramref name="port"/> but its endpoints (a new message; field values are shared).</summary>
    public static PortEndpoints PortFields(PortEndpoints port)
    {
        ArgumentNullException.ThrowIfNull(port);
        var copy = new PortEndpoints();
        CopyFields(port, copy, PortEndpoints.EndpointsFieldNumber);
        return copy;
    }

    /// <summary>Whether two ports' own fields (all but the endpoints) are equal.</summary>
    public static bool PortFieldsEqual(PortEndpoints a, PortEndpoints b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return FieldsEqual(a, b, PortEndpoints.EndpointsFieldNumber);
    }

    /// <summary>The endpoints of <paramref name="before"/> with <paramref name="change"/> applied, in <see cref="Order"/>.</summary>
    private static List<ReplicaEndpoint> Merge(Google.Protobuf.Collections.RepeatedField<ReplicaEndpoint> before, PortEndpointsDelta change)
    {
        // The kept endpoints are already in order; the upserted ones are few: sort those and
        // merge the two, so a one-endpoint change of a 10,000-endpoint port is linear, not n log n.
        var drop = new HashSet<string>(change.Removed, StringComparer.Ordinal);
        foreach (var e in change.Upserted)
        {
            drop.Add(e.Replica);
        }

        var upserted = change.Upserted.Order(Order).ToList();
        var merged = new List<ReplicaEndpoint>(before.Count + upserted.Count);
        var j = 0;
        foreach (var e in before)
        {
            if (drop.Contains(e.Replica))
            {
                continue;
            }

            while (j < upserted.Count && Compare(upserted[j], e) < 0)
            {
                merged.Add(upserted[j++]);
            }

            merged.Add(e);
        }

        while (j < upserted.Count)
        {
            merged.Add(upserted[j++]);
        }

        return merged;
    }

    private static int Compare(ReplicaEndpoint? x, ReplicaEndpoint? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }

        var c = string.CompareOrdinal(x.Endpoint?.Address ?? "", y.Endpoint?.Address ?? "");
        if (c != 0)
        {
            return c;
        }

        c = (x.Endpoint?.Port ?? 0).CompareTo(y.Endpoint?.Port ?? 0);
        return c != 0 ? c : string.CompareOrdinal(x.Replica, y.Replica);
    }

    private static readonly int[] s_deltaServiceFields = [ServiceEndpoints.PortsFieldNumber, ServiceEndpoints.VersionFieldNumber, ServiceEndpoints.ChangedAtFieldNumber];

    private static bool ServiceFieldsEqual(ServiceEndpoints a, ServiceEndpoints b) => FieldsEqual(a, b, s_deltaServiceFields);

    private static ServiceEndpoints ServiceFields(ServiceEndpoints service)
    {
        var copy = new ServiceEndpoints();
        CopyFields(service, copy, s_deltaServiceFields);
        return copy;
    }

    private static void CopyFields(IMessage from, IMessage to, params int[] except)
    {
        foreach (var field in from.Descriptor.Fields.InDeclarationOrder())
        {
            if (except.Contains(field.FieldNumber))
            {
                continue;
            }

            var value = field.Accessor.GetValue(from);
            if (field.IsMap)
            {
                var target = (IDictionary)field.Accessor.GetValue(to);
                foreach (DictionaryEntry entry in (IDictionary)value)
                {
                    target[entry.Key] = entry.Value;
                }
            }
            else if (field.IsRepeated)
            {
                var target = (IList)field.Accessor.GetValue(to);
                foreach (var item in (IList)value)
                {
                    target.Add(item);
                }
            }
            else if (!field.HasPresence || field.Accessor.HasValue(from))
            {
                field.Accessor.SetValue(to, value);
            }
        }
    }

    private static bool FieldsEqual(IMessage a, IMessage b, params int[] except)
    {
        foreach (var field in a.Descriptor.Fields.InDeclarationOrder())
        {
            if (!except.Contains(field.FieldNumber) && !Equals(field.Accessor.GetValue(a), field.Accessor.GetValue(b)))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>What changed in one service's endpoints (see <see cref="EndpointsDeltas.Diff"/>); the ports whose endpoints or fields changed.</summary>
public sealed record ServiceEndpointsDiff(string Service, long Version, Google.Protobuf.WellKnownTypes.Timestamp? ChangedAt, IReadOnlyList<PortDiff> Ports)
{
    /// <summary>How many endpoints changed (added, changed, removed) over all ports.</summary>
    public int Size => Ports.Sum(p => p.Added.Count + p.Changed.Count + p.Removed.Count);
}

/// <summary>
/// What changed in one port: endpoints that were not there (<paramref name="Added"/>), that
/// were there with other values (<paramref name="Changed"/>), replica ids that left
/// (<paramref name="Removed"/>), and the port's own fields when they changed (<paramref name="Metadata"/>).
/// </summary>
public sealed record PortDiff(string Port, PortEndpoints? Metadata, IReadOnlyList<ReplicaEndpoint> Added, IReadOnlyList<ReplicaEndpoint> Changed, IReadOnlyList<string> Removed);
