using System.Collections.Immutable;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Proxy;

/// <summary>Whether a published port is proxied per HTTP request (YARP) or per TCP connection.</summary>
public enum MeshProtocol
{
    Http,
    Tcp,
}

/// <summary>
/// One published port of one service as the mesh serves it on this node: where it listens
/// (<see cref="Published"/> on the node's address), how it picks and what it picks from.
/// </summary>
public sealed record MeshRoute(
    string Service,
    string Port,
    int Published,
    MeshProtocol Protocol,
    BalancingPolicy Balancing,
    ImmutableArray<MeshEndpoint> Endpoints)
{
    /// <summary>For logs and errors: <c>web/http on :8080 (http)</c>.</summary>
    public string Describe() => $"{Service}/{Port} on :{Published} ({(Protocol == MeshProtocol.Http ? "http" : "tcp")})";

    /// <summary>Same service, port, protocol, balancing and endpoints in the same order.</summary>
    public bool SameAs(MeshRoute other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Service == other.Service
            && Port == other.Port
            && Published == other.Published
            && Protocol == other.Protocol
            && Balancing == other.Balancing
            && Endpoints.SequenceEqual(other.Endpoints);
    }

    public bool Equals(MeshRoute? other) => other is not null && SameAs(other);

    public override int GetHashCode() => HashCode.Combine(Service, Port, Published, Protocol, Balancing, Endpoints.Length);
}

/// <summary>The routes of one endpoints snapshot, keyed by published port, and the ports two services claimed.</summary>
public sealed record MeshRouteTable(ImmutableSortedDictionary<int, MeshRoute> Routes, ImmutableArray<string> Conflicts)
{
    public static MeshRouteTable Empty { get; } = new(ImmutableSortedDictionary<int, MeshRoute>.Empty, []);

    /// <summary>
    /// One route per service port with a published port (&gt; 0), in service-name order. The control
    /// plane refuses a published port that another service holds, so two claims of one port can only
    /// come from a race between applies; the first service by name keeps the port and the other is
    /// reported in <see cref="Conflicts"/> (logged as a warning), never served half.
    /// </summary>
    public static MeshRouteTable Compute(EndpointsSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var routes = ImmutableSortedDictionary.CreateBuilder<int, MeshRoute>();
        var conflicts = ImmutableArray.CreateBuilder<string>();
        foreach (var (name, service) in snapshot.Services)
        {
            foreach (var port in service.Ports)
            {
                if (port.Published <= 0)
                {
                    continue;
                }

                var route = new MeshRoute(
                    name,
                    port.Port,
                    port.Published,
                    port.Protocol == Protocol.Tcp ? MeshProtocol.Tcp : MeshProtocol.Http,
                    ToPolicy(port.LoadBalancing),
                    [.. port.Endpoints
                        .Where(e => e.Endpoint is { Port: > 0, Address.Length: > 0 })
                        .Select(e => new MeshEndpoint(e.Replica, e.Node, e.Endpoint.Address, e.Endpoint.Port))]);
                if (routes.TryGetValue(port.Published, out var holder))
                {
                    conflicts.Add($"published port {port.Published} is claimed by {holder.Service}/{holder.Port} and {name}/{port.Port}; {holder.Service} keeps it until one of them changes its published port");
                    continue;
                }

                routes.Add(port.Published, route);
            }
        }

        return new MeshRouteTable(routes.ToImmutable(), conflicts.ToImmutable());
    }

    /// <summary>The spec's <c>loadBalancing</c> as a mesh policy; unspecified (older control planes) is round-robin.</summary>
    public static BalancingPolicy ToPolicy(LoadBalancing loadBalancing) => loadBalancing switch
    {
        LoadBalancing.LeastRequests => BalancingPolicy.LeastRequests,
        LoadBalancing.PowerOfTwoChoices => BalancingPolicy.PowerOfTwoChoices,
        _ => BalancingPolicy.RoundRobin,
    };
}
