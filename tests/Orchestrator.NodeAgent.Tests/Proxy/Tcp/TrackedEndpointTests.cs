using System.Net;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Proxy;
using Orchestrator.NodeAgent.Proxy.Tcp;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

public sealed class TrackedEndpointTests
{
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();
    private readonly TrackedEndpoint _endpoint = new(new MeshEndpoint("web-1", "node-1", "127.0.0.2", 20001));

    private (TimeSpan For, bool WasHealthy) Fail() => _endpoint.RecordFailure(_time.GetTimestamp(), _time.TimestampFrequency, Base, Max);

    [Fact]
    public void A_failed_connect_sets_the_endpoint_aside_for_the_base_time()
    {
        var (setAsideFor, wasHealthy) = Fail();

        Assert.Equal(TimeSpan.FromSeconds(5), setAsideFor);
        Assert.True(wasHealthy);
        Assert.True(_endpoint.IsSetAside(_time.GetTimestamp()));
        _time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.True(_endpoint.IsSetAside(_time.GetTimestamp()));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.False(_endpoint.IsSetAside(_time.GetTimestamp()));
    }

    [Fact]
    public void Failures_in_a_row_double_the_time_up_to_the_maximum()
    {
        var durations = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            durations.Add(Fail().For.TotalSeconds);
            _time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal([5, 10, 20, 30, 30, 30], durations);
        Assert.Equal(6, _endpoint.Failures);
    }

    [Fact]
    public void Only_the_first_failure_in_a_row_reports_a_change_of_health()
    {
        Assert.True(Fail().WasHealthy);
        Assert.False(Fail().WasHealthy);
    }

    [Fact]
    public void A_success_puts_the_endpoint_back_and_resets_the_doubling()
    {
        Fail();
        Fail();

        Assert.True(_endpoint.RecordSuccess());

        Assert.False(_endpoint.IsSetAside(_time.GetTimestamp()));
        Assert.Equal(0, _endpoint.Failures);
        Assert.Equal(TimeSpan.FromSeconds(5), Fail().For);
    }

    [Fact]
    public void A_success_without_failures_changes_nothing()
    {
        Assert.False(_endpoint.RecordSuccess());
        Assert.False(_endpoint.IsSetAside(_time.GetTimestamp()));
    }

    [Fact]
    public void Open_connections_are_counted_up_and_down()
    {
        _endpoint.Acquire();
        _endpoint.Acquire();
        _endpoint.Release();

        Assert.Equal(1, _endpoint.Open);
    }

    [Fact]
    public void An_ip_address_is_connected_to_directly_and_a_host_name_is_resolved()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 20001), _endpoint.Target);
        Assert.Equal(new DnsEndPoint("node-1.lan", 20001), new TrackedEndpoint(new MeshEndpoint("web-1", "node-1", "node-1.lan", 20001)).Target);
    }
}
