using System.Net;

namespace Orchestrator.NodeAgent.Proxy;

/// <summary>Settings of one node's routing mesh.</summary>
public sealed record RoutingMeshOptions
{
    /// <summary>The node's address: every published port listens there (a host name listens on all interfaces).</summary>
    public required IPAddress Address { get; init; }

    /// <summary>How long after a failed bind (port taken) the mesh tries the port again.</summary>
    public TimeSpan BindRetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The address to listen on for a node address: the IP itself, or every interface for a host name.</summary>
    public static IPAddress ListenAddress(string nodeAddress) =>
        IPAddress.TryParse(nodeAddress, out var ip) ? ip : IPAddress.Any;
}
