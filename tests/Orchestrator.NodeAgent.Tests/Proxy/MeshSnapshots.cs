using System.Collections.Immutable;
using Orchestrator.NodeAgent.Discovery;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Proxy;

/// <summary>Builds endpoints snapshots as the control plane sends them, for the mesh's tests.</summary>
internal static class MeshSnapshots
{
    public static PortEndpoints Port(string name, int published, Protocol protocol = Protocol.Http, LoadBalancing balancing = LoadBalancing.RoundRobin, params (string Address, int Port)[] endpoints)
    {
        var port = new PortEndpoints { Port = name, Published = published, Protocol = protocol, LoadBalancing = balancing };
        var i = 0;
        foreach (var (address, hostPort) in endpoints)
        {
            port.Endpoints.Add(new ReplicaEndpoint { Replica = $"r{i++}-{hostPort}", Node = "node-1", Endpoint = new Endpoint { Address = address, Port = hostPort } });
        }

        return port;
    }

    public static ServiceEndpoints Service(string name, params PortEndpoints[] ports) => new() { Service = name, Version = 1, Ports = { ports } };

    public static EndpointsSnapshot Snapshot(long version, params ServiceEndpoints[] services) =>
        new(version, services.ToImmutableSortedDictionary(s => s.Service, s => s, StringComparer.Ordinal));
}
