namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>
/// An immutable set of endpoints and the picker for them: what a listener swaps in whole on each
/// update, so a connection reads one consistent set with a single volatile read and no lock.
/// </summary>
internal sealed class EndpointSet
{
    public static readonly EndpointSet Empty = new([], new RoundRobinPicker(), BalancingPolicy.RoundRobin);

    public EndpointSet(IReadOnlyList<TrackedEndpoint> endpoints, IEndpointPicker picker, BalancingPolicy policy)
    {
        Endpoints = endpoints;
        Picker = picker;
        Policy = policy;
    }

    public IReadOnlyList<TrackedEndpoint> Endpoints { get; }

    public IEndpointPicker Picker { get; }

    public BalancingPolicy Policy { get; }

    /// <summary>
    /// The endpoint for the next connect attempt, or null when every endpoint was tried. Endpoints in
    /// <paramref name="tried"/> (indexes into <see cref="Endpoints"/>) are never offered again;
    /// set-aside endpoints are offered only when every untried endpoint is set aside, since a
    /// connection to an endpoint that may have recovered beats no connection. The pick is marked
    /// in <paramref name="tried"/>.
    /// </summary>
    public TrackedEndpoint? Pick(Span<bool> tried, long now)
    {
        var candidates = new List<TrackedEndpoint>(Endpoints.Count);
        for (var i = 0; i < Endpoints.Count; i++)
        {
            if (!tried[i] && !Endpoints[i].IsSetAside(now))
            {
                candidates.Add(Endpoints[i]);
            }
        }

        if (candidates.Count == 0)
        {
            for (var i = 0; i < Endpoints.Count; i++)
            {
                if (!tried[i])
                {
                    candidates.Add(Endpoints[i]);
                }
            }
        }

        if (candidates.Count == 0)
        {
            return null;
        }

        var picked = Picker.Pick(candidates);
        for (var i = 0; i < Endpoints.Count; i++)
        {
            if (ReferenceEquals(Endpoints[i], picked))
            {
                tried[i] = true;
                break;
            }
        }

        return picked;
    }
}
