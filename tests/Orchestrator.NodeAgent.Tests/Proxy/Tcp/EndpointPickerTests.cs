using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Tcp;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

public sealed class EndpointPickerTests
{
    internal static TrackedEndpoint[] Endpoints(params int[] open)
    {
        var endpoints = new TrackedEndpoint[open.Length];
        for (var i = 0; i < open.Length; i++)
        {
            endpoints[i] = new TrackedEndpoint(new MeshEndpoint($"web-{i}", "node-1", "127.0.0.1", 20000 + i));
            for (var j = 0; j < open[i]; j++)
            {
                endpoints[i].Acquire();
            }
        }

        return endpoints;
    }

    [Fact]
    public void Round_robin_gives_each_endpoint_in_turn()
    {
        var endpoints = Endpoints(0, 0, 0);
        var picker = new RoundRobinPicker();

        var picks = Enumerable.Range(0, 7).Select(_ => picker.Pick(endpoints).Endpoint.Replica).ToList();

        Assert.Equal(["web-0", "web-1", "web-2", "web-0", "web-1", "web-2", "web-0"], picks);
    }

    [Fact]
    public void Round_robin_ignores_open_connections()
    {
        var endpoints = Endpoints(5, 0);
        var picker = new RoundRobinPicker();

        Assert.Equal("web-0", picker.Pick(endpoints).Endpoint.Replica);
        Assert.Equal("web-1", picker.Pick(endpoints).Endpoint.Replica);
    }

    [Fact]
    public void Least_requests_picks_the_endpoint_with_the_fewest_open_connections()
    {
        var endpoints = Endpoints(3, 1, 2, 4);
        var picker = new LeastRequestsPicker();

        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("web-1", picker.Pick(endpoints).Endpoint.Replica);
        }
    }

    [Fact]
    public void Least_requests_shares_ties_in_turn()
    {
        var endpoints = Endpoints(0, 2, 0, 0);
        var picker = new LeastRequestsPicker();

        var picks = Enumerable.Range(0, 6).Select(_ => picker.Pick(endpoints).Endpoint.Replica).ToHashSet();

        Assert.Equal(["web-0", "web-2", "web-3"], picks.Order());
    }

    [Fact]
    public void Least_requests_follows_connections_as_they_open()
    {
        var endpoints = Endpoints(0, 0, 0);
        var picker = new LeastRequestsPicker();

        for (var i = 0; i < 9; i++)
        {
            picker.Pick(endpoints).Acquire();
        }

        Assert.All(endpoints, e => Assert.Equal(3, e.Open));
    }

    [Fact]
    public void Power_of_two_choices_never_picks_the_busier_of_its_two()
    {
        var endpoints = Endpoints(4, 0, 7, 2, 2, 9, 1);
        var random = new RecordingRandom(seed: 42);
        var picker = new PowerOfTwoChoicesPicker(random);

        for (var i = 0; i < 500; i++)
        {
            random.Draws.Clear();
            var picked = picker.Pick(endpoints);

            var first = random.Draws[0];
            var second = random.Draws[1] >= first ? random.Draws[1] + 1 : random.Draws[1];
            Assert.NotEqual(first, second);
            Assert.Contains(picked, new[] { endpoints[first], endpoints[second] });
            Assert.Equal(Math.Min(endpoints[first].Open, endpoints[second].Open), picked.Open);
        }
    }

    [Fact]
    public void Power_of_two_choices_reaches_every_endpoint_that_is_not_the_busiest()
    {
        var endpoints = Endpoints(1, 1, 1, 5);
        var picker = new PowerOfTwoChoicesPicker(new Random(7));

        var picks = Enumerable.Range(0, 300).Select(_ => picker.Pick(endpoints).Endpoint.Replica).ToHashSet();

        Assert.Equal(["web-0", "web-1", "web-2"], picks.Order());
    }

    [Fact]
    public void Power_of_two_choices_with_one_candidate_picks_it()
    {
        var endpoints = Endpoints(3);

        Assert.Same(endpoints[0], new PowerOfTwoChoicesPicker(new Random(1)).Pick(endpoints));
    }

    [Theory]
    [InlineData(BalancingPolicy.RoundRobin, "round-robin")]
    [InlineData(BalancingPolicy.LeastRequests, "least-requests")]
    [InlineData(BalancingPolicy.PowerOfTwoChoices, "power-of-two-choices")]
    public void Each_policy_has_its_picker(BalancingPolicy policy, string name)
    {
        Assert.Equal(name, EndpointPickers.For(policy).Name);
    }

    [Fact]
    public void An_unknown_policy_is_refused_with_the_known_ones()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => EndpointPickers.For((BalancingPolicy)42));

        Assert.Contains("RoundRobin, LeastRequests or PowerOfTwoChoices", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A seeded random that remembers what it drew, so a test knows which two endpoints were compared.</summary>
    private sealed class RecordingRandom(int seed) : Random(seed)
    {
        public List<int> Draws { get; } = [];

        public override int Next(int maxValue)
        {
            var value = base.Next(maxValue);
            Draws.Add(value);
            return value;
        }
    }
}
