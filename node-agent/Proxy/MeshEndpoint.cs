namespace Orchestrator.NodeAgent.Proxy;

/// <summary>One replica the mesh may send a published port's traffic to: its node's address and host port.</summary>
public sealed record MeshEndpoint(string Replica, string Node, string Address, int Port)
{
    public override string ToString() => $"{Replica} ({Address}:{Port})";
}

/// <summary>How a published port picks an endpoint for each request (HTTP) or connection (TCP).</summary>
public enum BalancingPolicy
{
    /// <summary>Each endpoint in turn (the default).</summary>
    RoundRobin,

    /// <summary>The endpoint with the fewest requests or connections in flight through this node.</summary>
    LeastRequests,

    /// <summary>Two endpoints at random, the one with fewer in flight (cheap, and no herd on one endpoint).</summary>
    PowerOfTwoChoices,
}
