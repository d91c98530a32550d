namespace Orchestrator.NodeAgent.Tests;

/// <summary>
/// The rule for tests that need something outside the test process (a Docker daemon, busybox):
/// skip with a message saying how to get it, except under <c>ORC_REQUIRE_INTEGRATION=1</c>
/// (CI), where a missing dependency is a failure.
/// </summary>
internal static class Integration
{
    public static bool Required => System.Environment.GetEnvironmentVariable("ORC_REQUIRE_INTEGRATION") == "1";

    public static void Need(bool available, string what, string howToGetIt)
    {
        if (available)
        {
            return;
        }

        var message = $"{what} is not available; {howToGetIt}";
        if (Required)
        {
            Assert.Fail($"{message} (ORC_REQUIRE_INTEGRATION=1, so this fails instead of skipping)");
        }

        Assert.Skip(message);
    }
}
