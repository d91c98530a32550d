using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// What a service's endpoints are: a pure function of the service, its replicas (status
/// merged) and the nodes they are bound to. The endpoints controller writes the result only
/// when it differs from what is stored (<see cref="SameSet"/>).
/// </summary>
/// <remarks>
/// A replica serves (is an endpoint) when all of these hold:
/// <list type="bullet">
/// <item>its observed phase is Ready (not Lost, not Draining, not merely Running);</item>
/// <item>its desired state is RUN: a replica being retired (DRAIN or STOP) leaves the endpoints
/// first, which is the point of the drain protocol (ADR 0008);</item>
/// <item>it is bound to a node that exists and whose state is Ready (a NotReady or Down node's
/// replicas cannot be reached, or will not be for long).</item>
/// </list>
/// Endpoints are grouped per port of the service's current template (name, published port,
/// protocol, and the service's load balancing, which is not part of the template) in the template's order; within a port they are sorted by address, port and
/// replica id, so the same inputs always give the same bytes.
/// </remarks>
public static class EndpointsPlanner
{
    /// <summary>
    /// The endpoints of <paramref name="service"/>, or null when the service does not exist
    /// (its endpoints are deleted). <see cref="ServiceEndpoints.Version"/> is left 0: the version
    /// is the store revision of the write, known only once written (and set on every read).
    /// </summary>
    public static ServiceEndpoints? Compute(Service? service, IEnumerable<Replica> replicas, IReadOnlyDictionary<string, Node> nodes)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        ArgumentNullException.ThrowIfNull(nodes);
        if (service is null)
        {
            return null;
        }

        var name = service.Meta?.Name is { Length: > 0 } n ? n : service.Spec?.Name ?? "";
        var result = new ServiceEndpoints { Service = name };
        var ports = service.Spec?.Template?.Ports ?? [];
        var serving = replicas.Where(r => Serves(r, nodes)).ToList();
        foreach (var port in ports)
        {
            var group = new PortEndpoints
            {
                Port = port.Name,
                Published = port.Published,
                Protocol = port.Protocol,
                LoadBalancing = service.Spec!.LoadBalancing,
            };
            var endpoints = new List<ReplicaEndpoint>();
            foreach (var replica in serving)
            {
                if (EndpointOf(replica, port.Name, nodes) is { } endpoint)
                {
                    endpoints.Add(new ReplicaEndpoint { Replica = replica.Meta.Name, Node = replica.Spec.Node, Endpoint = endpoint });
                }
            }

            group.Endpoints.AddRange(endpoints
                .OrderBy(e => e.Endpoint.Address, StringComparer.Ordinal)
                .ThenBy(e => e.Endpoint.Port)
                .ThenBy(e => e.Replica, StringComparer.Ordinal));
            result.Ports.Add(group);
        }

        return result;
    }

    /// <summary>Whether two sets hold the same endpoints (the version and the time of the change are ignored): no write when they do.</summary>
    public static bool SameSet(ServiceEndpoints? a, ServiceEndpoints? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        var x = a.Clone();
        var y = b.Clone();
        x.Version = 0;
        y.Version = 0;
        x.ChangedAt = null;
        y.ChangedAt = null;
        return x.Equals(y);
    }

    /// <summary>Whether the replica may receive traffic now (see the class remarks).</summary>
    public static bool Serves(Replica replica, IReadOnlyDictionary<string, Node> nodes)
    {
        ArgumentNullException.ThrowIfNull(replica);
        ArgumentNullException.ThrowIfNull(nodes);
        return replica.Status?.Phase == Phase.Ready
            && replica.Spec?.Desired == DesiredState.Run
            && replica.Spec.Node is { Length: > 0 } node
            && nodes.TryGetValue(node, out var n)
            && n.Status?.State == NodeState.Ready;
    }

    /// <summary>
    /// The address and host port of <paramref name="port"/>: what the agent reported, else the
    /// node's address with the host port allocated at binding; null when neither is known.
    /// </summary>
    private static Endpoint? EndpointOf(Replica replica, string port, IReadOnlyDictionary<string, Node> nodes)
    {
        if (replica.Status?.Endpoints is { } reported && reported.TryGetValue(port, out var endpoint) && endpoint.Port > 0 && endpoint.Address.Length > 0)
        {
            return new Endpoint { Address = endpoint.Address, Port = endpoint.Port };
        }

        if (replica.Spec.HostPorts.TryGetValue(port, out var hostPort) && hostPort > 0
            && nodes.TryGetValue(replica.Spec.Node, out var node) && node.Info?.Address is { Length: > 0 } address)
        {
            return new Endpoint { Address = address, Port = hostPort };
        }

        return null;
    }
}
