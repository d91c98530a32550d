namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// Waits for a condition that background work makes true (a worker picking a key, a
/// controller writing the store). It polls on the real clock; the only limit is a guard
/// against hanging the run, far above any expected duration, never a pass/fail threshold
/// of speed.
/// </summary>
internal static class Eventually
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    public static async Task TrueAsync(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        await TrueAsync(() => Task.FromResult(condition()), what, cancellationToken);
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, string what, CancellationToken cancellationToken)
    {
        var start = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            if (TimeProvider.System.GetElapsedTime(start) > Guard)
            {
                throw new TimeoutException($"still waiting after {Guard.TotalSeconds} s for: {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, cancellationToken);
        }
    }
}
