using Google.Protobuf.WellKnownTypes;
using Orchestrator.NodeAgent.Health;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Health;

public sealed class ProbeSettingsTests
{
    [Fact]
    public void Unset_fields_take_the_defaults()
    {
        var settings = ProbeSettings.FromProto(new Probe { Http = "/" });

        Assert.Equal(new ProbeSettings(), settings);
        Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1), TimeSpan.Zero, 3, 1), (settings.Interval, settings.Timeout, settings.InitialDelay, settings.FailureThreshold, settings.SuccessThreshold));
    }

    [Fact]
    public void Set_fields_are_taken_from_the_spec()
    {
        var settings = ProbeSettings.FromProto(new Probe
        {
            Http = "/",
            Interval = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)),
            Timeout = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(250)),
            InitialDelay = Duration.FromTimeSpan(TimeSpan.FromSeconds(30)),
            FailureThreshold = 6,
            SuccessThreshold = 2,
        });

        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30), 6, 2), (settings.Interval, settings.Timeout, settings.InitialDelay, settings.FailureThreshold, settings.SuccessThreshold));
    }

    [Fact]
    public void Zero_or_negative_values_take_the_defaults()
    {
        var settings = ProbeSettings.FromProto(new Probe
        {
            Http = "/",
            Interval = Duration.FromTimeSpan(TimeSpan.Zero),
            Timeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(-1)),
            FailureThreshold = -2,
            SuccessThreshold = 0,
        });

        Assert.Equal(new ProbeSettings(), settings);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(250, "250ms")]
    [InlineData(1000, "1s")]
    [InlineData(1500, "1.5s")]
    [InlineData(90_000, "1m30s")]
    [InlineData(120_000, "2m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(5_430_000, "1h30m30s")]
    [InlineData(90_000_000, "25h")]
    public void Durations_are_written_the_way_users_write_them(long milliseconds, string text)
    {
        Assert.Equal(text, DurationText.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }
}
