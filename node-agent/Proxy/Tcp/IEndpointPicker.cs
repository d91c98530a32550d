namespace Orchestrator.NodeAgent.Proxy.Tcp;

/// <summary>
/// Picks the endpoint for one new connection from the candidates a listener offers: endpoints not
/// yet tried for this connection and, when there are any, not set aside. Implementations are
/// called concurrently from every accepted connection and must be thread-safe without locks.
/// </summary>
internal interface IEndpointPicker
{
    /// <summary>The policy's name, as in logs.</summary>
    string Name { get; }

    /// <summary>One of <paramref name="candidates"/>, which is never empty.</summary>
    TrackedEndpoint Pick(IReadOnlyList<TrackedEndpoint> candidates);
}

/// <summary>Builds the picker for a <see cref="BalancingPolicy"/>.</summary>
internal static class EndpointPickers
{
    public static IEndpointPicker For(BalancingPolicy policy, Random? random = null) => policy switch
    {
        BalancingPolicy.RoundRobin => new RoundRobinPicker(),
        BalancingPolicy.LeastRequests => new LeastRequestsPicker(),
        BalancingPolicy.PowerOfTwoChoices => new PowerOfTwoChoicesPicker(random ?? Random.Shared),
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, $"unknown balancing policy {policy}; use RoundRobin, LeastRequests or PowerOfTwoChoices"),
    };
}

/// <summary>Each candidate in turn: the n-th connection gets candidate <c>n mod count</c>.</summary>
internal sealed class RoundRobinPicker : IEndpointPicker
{
    private int _next = -1;

    public string Name => "round-robin";

    public TrackedEndpoint Pick(IReadOnlyList<TrackedEndpoint> candidates)
    {
        // Unsigned so the counter wrapping past int.MaxValue keeps the order instead of going negative.
        var n = (uint)Interlocked.Increment(ref _next);
        return candidates[(int)(n % (uint)candidates.Count)];
    }
}

/// <summary>
/// The candidate with the fewest open connections through this listener. Ties go round in turn
/// (the scan starts one further each time), so idle endpoints share short connections instead of
/// the first one taking them all.
/// </summary>
internal sealed class LeastRequestsPicker : IEndpointPicker
{
    private int _start = -1;

    public string Name => "least-requests";

    public TrackedEndpoint Pick(IReadOnlyList<TrackedEndpoint> candidates)
    {
        var count = candidates.Count;
        var start = (int)((uint)Interlocked.Increment(ref _start) % (uint)count);
        var best = candidates[start];
        var bestOpen = best.Open;
        for (var i = 1; i < count; i++)
        {
            var candidate = candidates[(start + i) % count];
            var open = candidate.Open;
            if (open < bestOpen)
            {
                best = candidate;
                bestOpen = open;
            }
        }

        return best;
    }
}

/// <summary>
/// Two distinct candidates at random, the one with fewer open connections (the first on a tie):
/// nearly as even as least-requests, without every listener on every node herding onto the one
/// endpoint that looks least loaded.
/// </summary>
internal sealed class PowerOfTwoChoicesPicker(Random random) : IEndpointPicker
{
    public string Name => "power-of-two-choices";

    public TrackedEndpoint Pick(IReadOnlyList<TrackedEndpoint> candidates)
    {
        var count = candidates.Count;
        if (count == 1)
        {
            return candidates[0];
        }

        var first = random.Next(count);
        // A second index among the other count - 1, shifted past the first: distinct without retrying.
        var second = random.Next(count - 1);
        if (second >= first)
        {
            second++;
        }

        var a = candidates[first];
        var b = candidates[second];
        return b.Open < a.Open ? b : a;
    }
}
