namespace Orchestrator.NodeAgent.Tests.Health;

/// <summary>
/// Waits in real time, bounded, for something another thread does (a runner consuming a check, a
/// killed process disappearing). The bound only guards against a hang; no assertion depends on how
/// long the wait took.
/// </summary>
internal static class Eventually
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = TimeProvider.System.GetTimestamp() + (long)(Limit.TotalSeconds * TimeProvider.System.TimestampFrequency);
        while (!condition())
        {
            if (TimeProvider.System.GetTimestamp() > deadline)
            {
                Assert.Fail($"gave up waiting until {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Awaits a task that should finish, failing the test instead of hanging it when it does not.</summary>
    public static async Task<T> FinishesAsync<T>(Task<T> task, string what)
    {
        try
        {
            return await task.WaitAsync(Limit, TimeProvider.System, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"gave up waiting for {what}");
            throw;
        }
    }

    public static async Task FinishesAsync(Task task, string what)
    {
        try
        {
            await task.WaitAsync(Limit, TimeProvider.System, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"gave up waiting for {what}");
            throw;
        }
    }
}
