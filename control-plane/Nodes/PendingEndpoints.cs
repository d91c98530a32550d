using Google.Protobuf.WellKnownTypes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// One store change of one service's endpoints, computed once by the <see cref="EndpointsFeed"/>
/// and offered to every node stream: the new set (null when the service's endpoints were
/// deleted) and, when it can be said so, what changed from the previous set.
/// </summary>
/// <param name="Service">The service.</param>
/// <param name="Version">The store revision of the change.</param>
/// <param name="Set">The service's whole set after the change, shared (never mutated); null when removed.</param>
/// <param name="Diff">What changed from the previous set; null when the set is new or must be sent whole.</param>
internal sealed record EndpointsChange(string Service, long Version, ServiceEndpoints? Set, ServiceEndpointsDiff? Diff);

/// <summary>
/// What waits to be sent to one node stream, merged per service (docs/adr/0020-endpoints.md):
/// the latest whole set (a shared reference to the feed's), the removal, or the composition of
/// the deltas since the last update taken. Composing works per endpoint against what the node
/// holds: an endpoint added then removed cancels out; removed then added is an upsert; changed
/// twice keeps the last value. When what a service's composed delta holds grows to the size of
/// the whole set, the service is sent whole instead (a reference, no copy), so what waits for a
/// node is bounded by the sets the feed already holds, not by the number of changes.
/// </summary>
internal sealed class PendingEndpoints
{
    private readonly Dictionary<string, Pending> _services = new(StringComparer.Ordinal);
    private long _version;

    /// <summary>Whether nothing waits.</summary>
    public bool IsEmpty => _services.Count == 0;

    /// <summary>Merges one change into what waits.</summary>
    public void Offer(EndpointsChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        _version = Math.Max(_version, change.Version);
        if (change.Set is null)
        {
            _services[change.Service] = Pending.Removed;
            return;
        }

        _services.TryGetValue(change.Service, out var pending);
        if (change.Diff is null || pending is { IsDelta: false })
        {
            // New, or not sayable as a delta, or the node already waits for a whole set or a
            // removal: the latest whole set replaces whatever waits.
            _services[change.Service] = Pending.Whole(change.Set);
            return;
        }

        pending ??= Pending.Delta();
        pending.Compose(change.Diff);
        if (pending.Size > 0 && pending.Size >= change.Set.Ports.Sum(p => p.Endpoints.Count))
        {
            pending = Pending.Whole(change.Set);
        }

        _services[change.Service] = pending;
    }

    /// <summary>Everything that waits as one update (not full), in service order; null when nothing waits. What waits is cleared.</summary>
    public EndpointsUpdate? Take()
    {
        if (_services.Count == 0)
        {
            return null;
        }

        var update = new EndpointsUpdate { Version = _version };
        foreach (var (service, pending) in _services.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (pending.IsDelta)
            {
                update.Deltas.Add(pending.ToDelta(service));
            }
            else if (pending.Set is { } set)
            {
                update.Services.Add(set);
            }
            else
            {
                update.RemovedServices.Add(service);
            }
        }

        _services.Clear();
        return update;
    }

    private sealed class Pending
    {
        // Per port, per replica id: the endpoint's value now (null: removed) and whether the
        // node holds it already (so that added-then-removed sends nothing).
        private readonly Dictionary<string, PendingPort> _ports = new(StringComparer.Ordinal);
        private long _version;
        private Timestamp? _changedAt;

        private Pending(bool isDelta, ServiceEndpoints? set)
        {
            IsDelta = isDelta;
            Set = set;
        }

        public static Pending Removed { get; } = new(false, null);

        public bool IsDelta { get; }

        public ServiceEndpoints? Set { get; }

        public int Size { get; private set; }

        public static Pending Whole(ServiceEndpoints set) => new(false, set);

        public static Pending Delta() => new(true, null);

        public void Compose(ServiceEndpointsDiff diff)
        {
            _version = diff.Version;
            _changedAt = diff.ChangedAt;
            foreach (var port in diff.Ports)
            {
                if (!_ports.TryGetValue(port.Port, out var pending))
                {
                    pending = new PendingPort();
                    _ports[port.Port] = pending;
                }

                if (port.Metadata is not null)
                {
                    pending.Metadata = port.Metadata;
                }

                var entries = pending.Entries;
                foreach (var e in port.Added)
                {
                    entries[e.Replica] = (e, entries.TryGetValue(e.Replica, out var was) && was.Held);
                }

                foreach (var e in port.Changed)
                {
                    entries[e.Replica] = (e, !entries.TryGetValue(e.Replica, out var was) || was.Held);
                }

                foreach (var replica in port.Removed)
                {
                    if (entries.TryGetValue(replica, out var was) && !was.Held)
                    {
                        // Added since the node's last update, gone again: the node never hears of it.
                        entries.Remove(replica);
                    }
                    else
                    {
                        entries[replica] = (null, true);
                    }
                }
            }

            Size = _ports.Values.Sum(p => p.Entries.Count);
        }

        public EndpointsDelta ToDelta(string service)
        {
            var delta = new EndpointsDelta { Service = service, Version = _version, ChangedAt = _changedAt };
            foreach (var (name, port) in _ports)
            {
                var change = new PortEndpointsDelta { Port = name, Metadata = port.Metadata };
                foreach (var (replica, (now, _)) in port.Entries)
                {
                    if (now is null)
                    {
                        change.Removed.Add(replica);
                    }
                    else
                    {
                        change.Upserted.Add(now);
                    }
                }

                if (change.Metadata is not null || change.Upserted.Count > 0 || change.Removed.Count > 0)
                {
                    delta.Ports.Add(change);
                }
            }

            return delta;
        }
    }

    private sealed class PendingPort
    {
        public PortEndpoints? Metadata { get; set; }

        public Dictionary<string, (ReplicaEndpoint? Now, bool Held)> Entries { get; } = new(StringComparer.Ordinal);
    }
}
