using FsCheck.Xunit;
using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Tests.Specs;

public class DurationTextTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("5s", 5000)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h2m3s4ms", 3_723_004)]
    [InlineData("0", 0)]
    [InlineData("0s", 0)]
    public void Durations_are_read_in_milliseconds_seconds_minutes_and_hours(string text, long millis)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(millis), DurationText.Parse(text));
    }

    [Theory]
    [InlineData("5", "5 has no unit; add a unit: 5s")]
    [InlineData("5sec", "\"5sec\" is not a duration; did you mean 5s?")]
    [InlineData("1min", "\"1min\" is not a duration; did you mean 1m?")]
    [InlineData("2 hours", "\"2 hours\" is not a duration; did you mean 2h?")]
    [InlineData("100msec", "\"100msec\" is not a duration; did you mean 100ms?")]
    [InlineData("1d", "\"1d\" is not a duration; did you mean 24h?")]
    [InlineData("5S", "\"5S\" is not a duration; did you mean 5s?")]
    [InlineData("-5s", "-5s is negative; write 0s or more")]
    [InlineData("0.5ms", "0.5ms is finer than 1ms; write whole milliseconds such as 1500ms")]
    [InlineData("2000h", "2000h is longer than 1000h; write a shorter duration")]
    [InlineData("soon", "\"soon\" is not a duration; write a number with a unit: 500ms, 5s, 2m or 1h")]
    public void Duration_mistakes_are_explained_with_the_likely_intent(string text, string message)
    {
        Assert.False(DurationText.TryParse(text, out _, out var error));
        Assert.Equal(message, error);
        Assert.Equal(message, Assert.Throws<FormatException>(() => DurationText.Parse(text)).Message);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(500, "500ms")]
    [InlineData(1500, "1.5s")]
    [InlineData(5000, "5s")]
    [InlineData(90_000, "1m30s")]
    [InlineData(120_000, "2m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(3_661_001, "1h1m1.001s")]
    public void Durations_are_formatted_the_way_users_write_them(long millis, string text)
    {
        Assert.Equal(text, DurationText.Format(TimeSpan.FromMilliseconds(millis)));
    }

    [Property(MaxTest = 500)]
    public bool Formatted_durations_parse_back_to_the_same_value(int millis)
    {
        var value = TimeSpan.FromMilliseconds(Math.Abs((long)millis) % (long)DurationText.Max.TotalMilliseconds);
        return DurationText.Parse(DurationText.Format(value)) == value;
    }
}
