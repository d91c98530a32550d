using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Tcp;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

public sealed class EndpointSetTests
{
    private readonly FakeTimeProvider _time = new();

    private void SetAside(TrackedEndpoint endpoint) =>
        endpoint.RecordFailure(_time.GetTimestamp(), _time.TimestampFrequency, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30));

    [Theory]
    [InlineData(BalancingPolicy.RoundRobin)]
    [InlineData(BalancingPolicy.LeastRequests)]
    [InlineData(BalancingPolicy.PowerOfTwoChoices)]
    public void Set_aside_endpoints_are_not_picked_while_others_are_left(BalancingPolicy policy)
    {
        var endpoints = EndpointPickerTests.Endpoints(0, 0, 0);
        SetAside(endpoints[1]);
        var set = new EndpointSet(endpoints, EndpointPickers.For(policy, new Random(3)), policy);

        for (var i = 0; i < 50; i++)
        {
            var picked = set.Pick(new bool[3], _time.GetTimestamp());
            Assert.NotSame(endpoints[1], picked);
        }
    }

    [Fact]
    public void When_every_endpoint_is_set_aside_they_are_still_tried()
    {
        var endpoints = EndpointPickerTests.Endpoints(0, 0);
        SetAside(endpoints[0]);
        SetAside(endpoints[1]);
        var set = new EndpointSet(endpoints, new RoundRobinPicker(), BalancingPolicy.RoundRobin);
        var tried = new bool[2];

        var first = set.Pick(tried, _time.GetTimestamp());
        var second = set.Pick(tried, _time.GetTimestamp());

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.NotSame(first, second);
        Assert.Null(set.Pick(tried, _time.GetTimestamp()));
    }

    [Fact]
    public void Set_aside_endpoints_come_last_in_a_connections_fallback()
    {
        var endpoints = EndpointPickerTests.Endpoints(0, 0, 0);
        SetAside(endpoints[0]);
        var set = new EndpointSet(endpoints, new RoundRobinPicker(), BalancingPolicy.RoundRobin);
        var tried = new bool[3];

        var order = new[] { set.Pick(tried, _time.GetTimestamp()), set.Pick(tried, _time.GetTimestamp()), set.Pick(tried, _time.GetTimestamp()) };

        Assert.Same(endpoints[0], order[2]);
        Assert.Equal([true, true, true], tried);
    }

    [Fact]
    public void Each_endpoint_is_tried_at_most_once_per_connection()
    {
        var endpoints = EndpointPickerTests.Endpoints(0, 0, 0);
        var set = new EndpointSet(endpoints, new LeastRequestsPicker(), BalancingPolicy.LeastRequests);
        var tried = new bool[3];

        var picks = new List<TrackedEndpoint>();
        while (set.Pick(tried, _time.GetTimestamp()) is { } picked)
        {
            picks.Add(picked);
        }

        Assert.Equal(3, picks.Distinct().Count());
        Assert.Equal(3, picks.Count);
    }

    [Fact]
    public void A_set_aside_endpoint_is_picked_again_once_its_time_is_up()
    {
        var endpoints = EndpointPickerTests.Endpoints(0, 0);
        SetAside(endpoints[0]);
        var set = new EndpointSet(endpoints, new RoundRobinPicker(), BalancingPolicy.RoundRobin);

        var before = Enumerable.Range(0, 4).Select(_ => set.Pick(new bool[2], _time.GetTimestamp())).ToList();
        _time.Advance(TimeSpan.FromSeconds(5));
        var after = Enumerable.Range(0, 4).Select(_ => set.Pick(new bool[2], _time.GetTimestamp())).ToList();

        Assert.DoesNotContain(endpoints[0], before);
        Assert.Contains(endpoints[0], after);
    }

    [Fact]
    public void An_empty_set_picks_nothing()
    {
        Assert.Null(EndpointSet.Empty.Pick([], _time.GetTimestamp()));
    }
}
