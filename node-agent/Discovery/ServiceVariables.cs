using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Discovery;

/// <summary>
/// The discovery variables a replica gets for the services the node knows when it starts, as
/// Kubernetes gives a pod for the services that exist when it starts: for each service that
/// publishes a port, <c>&lt;NAME&gt;_SERVICE_HOST</c> (the node's own address: the routing mesh
/// listens there on every published port), <c>&lt;NAME&gt;_SERVICE_PORT</c> (its first published
/// port) and <c>&lt;NAME&gt;_SERVICE_PORT_&lt;PORT&gt;</c> per published port. Names are
/// upper-cased with <c>-</c> as <c>_</c> (<c>user-api</c>, port <c>admin-http</c> →
/// <c>USER_API_SERVICE_PORT_ADMIN_HTTP</c>).
/// </summary>
/// <remarks>
/// A service's own replicas get its variables too, as in Kubernetes: a replica that calls its own
/// service (peers joining a cluster, a worker calling the service's front door) finds it the same
/// way as any other. The variables are fixed at start: a service created later shows only in
/// replicas started after the node heard of it (the endpoints table, <c>GET /endpoints</c>, is the
/// live source).
/// </remarks>
public static class ServiceVariables
{
    /// <summary>The variables for every service in <paramref name="snapshot"/> that publishes a port, with <paramref name="nodeAddress"/> as the host.</summary>
    public static IReadOnlyDictionary<string, string> Of(EndpointsSnapshot snapshot, string nodeAddress)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return Of(snapshot.Services.Values, nodeAddress);
    }

    /// <summary>The variables for every service in <paramref name="services"/> that publishes a port, with <paramref name="nodeAddress"/> as the host.</summary>
    public static IReadOnlyDictionary<string, string> Of(IEnumerable<ServiceEndpoints> services, string nodeAddress)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(nodeAddress);
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            var published = service.Ports.Where(p => p.Published > 0).ToList();
            if (published.Count == 0)
            {
                continue;
            }

            var prefix = Name(service.Service) + "_SERVICE_";
            env[prefix + "HOST"] = nodeAddress;
            env[prefix + "PORT"] = published[0].Published.ToString(CultureInfo.InvariantCulture);
            foreach (var port in published.Where(p => p.Port.Length > 0))
            {
                env[prefix + "PORT_" + Name(port.Port)] = port.Published.ToString(CultureInfo.InvariantCulture);
            }
        }

        return env;
    }

    /// <summary>A service or port name as it appears in a variable name: upper-cased, <c>-</c> (and <c>.</c>) as <c>_</c>.</summary>
    public static string Name(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToUpperInvariant().Replace('-', '_').Replace('.', '_');
    }
}
