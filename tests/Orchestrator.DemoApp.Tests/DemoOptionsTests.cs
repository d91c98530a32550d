namespace Orchestrator.DemoApp.Tests;

public class DemoOptionsTests
{
    private static DemoOptions? Parse(string[] args, Dictionary<string, string> env, out IReadOnlyList<string> errors) =>
        DemoOptions.Parse(args, name => env.GetValueOrDefault(name), out errors);

    [Fact]
    public void Identity_and_port_come_from_the_environment_the_agent_sets()
    {
        var options = Parse([], new() { ["PORT"] = "20001", ["ORC_REPLICA_ID"] = "web-1", ["ORC_NODE"] = "node-1", ["ORC_SERVICE"] = "web", ["ORC_REVISION"] = "3" }, out var errors);

        Assert.Empty(errors);
        Assert.NotNull(options);
        Assert.Equal(20001, options.Port);
        Assert.Equal("hello from web-1 on node-1 (service web, revision 3)", options.Greeting);
    }

    [Fact]
    public void Without_port_or_identity_it_listens_on_8080_and_says_so()
    {
        var options = Parse([], [], out var errors);

        Assert.Empty(errors);
        Assert.NotNull(options);
        Assert.Equal(DemoOptions.DefaultPort, options.Port);
        Assert.Equal("none", options.Service);
        Assert.Equal("0", options.Revision);
        Assert.StartsWith("pid-", options.ReplicaId, StringComparison.Ordinal);
    }

    [Fact]
    public void The_port_option_wins_over_PORT()
    {
        var options = Parse(["--port", "9000"], new() { ["PORT"] = "20001" }, out _);

        Assert.Equal(9000, options?.Port);
    }

    [Fact]
    public void A_message_is_appended_to_the_greeting()
    {
        var options = Parse([], new() { ["ORC_REPLICA_ID"] = "r", ["ORC_NODE"] = "n", ["DEMO_MESSAGE"] = "v2" }, out _);

        Assert.Equal("hello from r on n (service none, revision 0): v2", options?.Greeting);
    }

    [Fact]
    public void Every_malformed_setting_is_reported_at_once()
    {
        var options = Parse(["--verbose"], new() { ["PORT"] = "80a", ["DEMO_CRASH_AFTER"] = "5", ["DEMO_STARTUP_DELAY"] = "2 weeks" }, out var errors);

        Assert.Null(options);
        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.Contains("--verbose", StringComparison.Ordinal));
        Assert.Contains("PORT: \"80a\" is not a port; write a number from 1 to 65535", errors);
        Assert.Contains("DEMO_CRASH_AFTER: \"5\" has no unit; add one: 5s", errors);
        Assert.Contains(errors, e => e.StartsWith("DEMO_STARTUP_DELAY:", StringComparison.Ordinal));
    }

    [Fact]
    public void Fault_timers_are_read_as_durations()
    {
        var options = Parse([], new() { ["DEMO_CRASH_AFTER"] = "1m30s", ["DEMO_FAIL_HEALTH_AFTER"] = "500ms", ["DEMO_STARTUP_DELAY"] = "2s" }, out var errors);

        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromSeconds(90), options?.CrashAfter);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options?.FailHealthAfter);
        Assert.Equal(TimeSpan.FromSeconds(2), options?.StartupDelay);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("500ms", 500)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    public void Durations_are_written_as_the_spec_writes_them(string text, double milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("", "is empty; write a duration such as 5s")]
    [InlineData("5", "\"5\" has no unit; add one: 5s")]
    [InlineData("5d", "\"5d\" has an unknown unit \"d\"; use ms, s, m or h")]
    [InlineData("s", "\"s\" is not a duration; write it as 500ms, 5s, 2m or 1h")]
    public void A_malformed_duration_says_how_to_write_it(string text, string expected)
    {
        Assert.False(Durations.TryParse(text, out _, out var error));
        Assert.Equal(expected, error);
    }
}
