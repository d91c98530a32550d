using System.Collections.Immutable;
using System.Text.Json;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Discovery;

/// <summary>
/// The endpoints the control plane last sent this agent (docs/adr/0020-endpoints.md): every
/// service's Ready endpoints per port, and the version (store revision) they are at. Each
/// update builds a new immutable <see cref="EndpointsSnapshot"/> that replaces the old one
/// atomically, so readers (the <c>/endpoints</c> JSON, later the proxy) never see half an update.
/// </summary>
/// <remarks>
/// Order: a full update (sent after every registration) replaces everything, whatever its
/// version: it is the new stream's whole truth. A delta replaces the services in
/// <c>services</c> whole, moves those in <c>deltas</c> on by what changed (endpoints upserted
/// and removed per port, <see cref="EndpointsDeltas.Apply"/>) and removes those in
/// <c>removed_services</c>; one older than the applied version is ignored
/// (deltas of one transaction share a version, so an equal version is applied). What the agent
/// acknowledges is the version applied after each update, and only once every
/// <see cref="IEndpointsConsumer"/> (the routing mesh) has applied it too: the drain protocol
/// counts on an ack meaning "this node no longer routes to what the version removed".
/// </remarks>
public sealed class EndpointsTable
{
    private readonly IEndpointsConsumer[] _consumers;
    private EndpointsSnapshot _current = EndpointsSnapshot.Empty;

    public EndpointsTable()
        : this([])
    {
    }

    public EndpointsTable(IEnumerable<IEndpointsConsumer> consumers)
    {
        ArgumentNullException.ThrowIfNull(consumers);
        _consumers = [.. consumers];
    }

    /// <summary>What is applied now.</summary>
    public EndpointsSnapshot Current => Volatile.Read(ref _current);

    /// <summary>
    /// Applies one update, then hands the new snapshot to every consumer and waits for them; false
    /// when the update was older than what is applied and ignored (consumers are not called).
    /// Calls must not overlap (the node stream applies its messages one at a time).
    /// </summary>
    public async ValueTask<bool> ApplyAsync(EndpointsUpdate update, CancellationToken cancellationToken)
    {
        if (!Apply(update))
        {
            return false;
        }

        var snapshot = Current;
        foreach (var consumer in _consumers)
        {
            await consumer.ApplyAsync(snapshot, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Applies one update to the table alone (no consumer is told); false when it was older than what is applied and ignored.</summary>
    public bool Apply(EndpointsUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        while (true)
        {
            var before = Current;
            EndpointsSnapshot after;
            if (update.Full)
            {
                after = new EndpointsSnapshot(update.Version, update.Services.ToImmutableSortedDictionary(s => s.Service, s => s, StringComparer.Ordinal));
            }
            else
            {
                if (update.Version < before.Version)
                {
                    return false;
                }

                var services = before.Services.ToBuilder();
                foreach (var removed in update.RemovedServices)
                {
                    services.Remove(removed);
                }

                foreach (var changed in update.Services)
                {
                    services[changed.Service] = changed;
                }

                foreach (var delta in update.Deltas)
                {
                    // A delta of a service not held here cannot happen on one stream (a service
                    // first comes whole, after the full set); if it did, the service stays absent
                    // until the next full set, sent after every registration, replaces the table.
                    if (services.TryGetValue(delta.Service, out var held))
                    {
                        services[delta.Service] = EndpointsDeltas.Apply(held, delta);
                    }
                }

                after = new EndpointsSnapshot(update.Version, services.ToImmutable());
            }

            if (Interlocked.CompareExchange(ref _current, after, before) == before)
            {
                return true;
            }
        }
    }
}

/// <summary>
/// Something on the node that routes by the endpoints (the routing mesh): it gets every new
/// snapshot before the agent acknowledges its version.
/// </summary>
public interface IEndpointsConsumer
{
    /// <summary>Starts routing by <paramref name="snapshot"/>; returns once nothing routes by the previous one any more.</summary>
    ValueTask ApplyAsync(EndpointsSnapshot snapshot, CancellationToken cancellationToken);
}

/// <summary>One consistent view of every service's endpoints at <see cref="Version"/>.</summary>
public sealed record EndpointsSnapshot(long Version, ImmutableSortedDictionary<string, ServiceEndpoints> Services)
{
    public static EndpointsSnapshot Empty { get; } = new(0, ImmutableSortedDictionary.Create<string, ServiceEndpoints>(StringComparer.Ordinal));

    /// <summary>
    /// The snapshot as JSON for clients that balance on their own:
    /// <c>{"version":V,"services":{"web":{"version":V,"ports":[{"name":"http","published":8080,"protocol":"http","endpoints":[{"replica":"web-7f3k2","node":"node-1","address":"127.0.0.2","port":20001}]}]}}}</c>.
    /// </summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("version", Version);
            json.WriteStartObject("services");
            foreach (var (name, service) in Services)
            {
                json.WritePropertyName(name);
                WriteService(json, service);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>One service as JSON (<c>{"service":"web","version":V,"ports":[...]}</c>), or null when it has no endpoints here.</summary>
    public byte[]? ServiceJson(string service)
    {
        if (!Services.TryGetValue(service, out var endpoints))
        {
            return null;
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteService(json, endpoints);
        }

        return buffer.ToArray();
    }

    private static void WriteService(Utf8JsonWriter json, ServiceEndpoints service)
    {
        json.WriteStartObject();
        json.WriteString("service", service.Service);
        json.WriteNumber("version", service.Version);
        json.WriteStartArray("ports");
        foreach (var port in service.Ports)
        {
            json.WriteStartObject();
            json.WriteString("name", port.Port);
            json.WriteNumber("published", port.Published);
            json.WriteString("protocol", port.Protocol switch
            {
                Protocol.Tcp => "tcp",
                Protocol.Http => "http",
                _ => "",
            });
            json.WriteStartArray("endpoints");
            foreach (var endpoint in port.Endpoints)
            {
                json.WriteStartObject();
                json.WriteString("replica", endpoint.Replica);
                json.WriteString("node", endpoint.Node);
                json.WriteString("address", endpoint.Endpoint?.Address ?? "");
                json.WriteNumber("port", endpoint.Endpoint?.Port ?? 0);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }
}
