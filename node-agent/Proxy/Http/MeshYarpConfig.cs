using System.Globalization;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace Orchestrator.NodeAgent.Proxy.Http;

/// <summary>
/// The YARP configuration of the mesh's HTTP routes: one cluster per service port (its endpoints as
/// destinations, keyed by replica id so YARP keeps each one's health and in-flight count across
/// updates) and one route per published port, matched by <see cref="LocalPortMatcherPolicy"/>.
/// </summary>
internal static class MeshYarpConfig
{
    /// <summary>Route metadata: the published port the route answers on.</summary>
    public const string PortKey = "orc.mesh.port";

    /// <summary>Cluster metadata: the service and its port name (for metrics and messages).</summary>
    public const string ServiceKey = "orc.mesh.service";

    public const string PortNameKey = "orc.mesh.port-name";

    /// <summary>How long a destination set aside by passive health stays out before it is tried again.</summary>
    public static readonly TimeSpan ReactivationPeriod = TimeSpan.FromSeconds(10);

    public static string RouteId(int published) => "port-" + published.ToString(CultureInfo.InvariantCulture);

    public static string ClusterId(MeshRoute route) => $"{route.Service}/{route.Port}";

    public static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Build(IEnumerable<MeshRoute> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        var routeConfigs = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        foreach (var route in routes.OrderBy(r => r.Published))
        {
            var published = route.Published.ToString(CultureInfo.InvariantCulture);
            routeConfigs.Add(new RouteConfig
            {
                RouteId = RouteId(route.Published),
                ClusterId = ClusterId(route),
                Match = new RouteMatch { Path = "/{**catch-all}" },
                Metadata = new Dictionary<string, string> { [PortKey] = published },

                // X-Forwarded-For is appended to (a client behind another proxy keeps its chain);
                // -Proto and -Host say what the client used; no path prefix is stripped, so none is sent.
                Transforms =
                [
                    new Dictionary<string, string> { ["X-Forwarded"] = "Set", ["For"] = "Append", ["Prefix"] = "Off" },
                ],
            });
            clusters.Add(new ClusterConfig
            {
                ClusterId = ClusterId(route),
                LoadBalancingPolicy = PolicyName(route.Balancing),
                Metadata = new Dictionary<string, string> { [ServiceKey] = route.Service, [PortNameKey] = route.Port },
                HealthCheck = new HealthCheckConfig
                {
                    // When every endpoint is set aside, try them all rather than answer 503.
                    AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyOrPanic,
                    Passive = new PassiveHealthCheckConfig
                    {
                        Enabled = true,
                        Policy = "TransportFailureRate",
                        ReactivationPeriod = ReactivationPeriod,
                    },
                },
                Destinations = route.Endpoints
                    .GroupBy(e => e.Replica, StringComparer.Ordinal)
                    .ToDictionary(
                        g => g.Key,
                        g => new DestinationConfig { Address = $"http://{FormatHost(g.First().Address)}:{g.First().Port.ToString(CultureInfo.InvariantCulture)}" },
                        StringComparer.Ordinal),
            });
        }

        return (routeConfigs, clusters);
    }

    public static string PolicyName(BalancingPolicy policy) => policy switch
    {
        BalancingPolicy.LeastRequests => LoadBalancingPolicies.LeastRequests,
        BalancingPolicy.PowerOfTwoChoices => LoadBalancingPolicies.PowerOfTwoChoices,
        _ => LoadBalancingPolicies.RoundRobin,
    };

    private static string FormatHost(string address) =>
        System.Net.IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address;
}
