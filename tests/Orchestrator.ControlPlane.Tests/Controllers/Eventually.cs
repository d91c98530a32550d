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

    /// <summary>Polls <paramref name="read"/> until it gives a value (not null), and returns it.</summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T?>> read, string what, CancellationToken cancellationToken)
        where T : class
    {
        var start = TimeProvider.System.GetTimestamp();
        while (true)
        {
            if (await read() is { } value)
            {
                return value;
            }

            if (TimeProvider.System.GetElapsedTime(start) > Guard)
            {
                throw new TimeoutException($"still waiting after {Guard.TotalSeconds} s for: {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, cancellationToken);
        }
    }
}
