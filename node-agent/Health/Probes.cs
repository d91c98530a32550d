using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Health;

/// <summary>Which question a probe answers: may it get traffic (readiness), or must it be restarted (liveness).</summary>
public enum ProbeKind
{
    Readiness,
    Liveness,
}

/// <summary>The outcome of one check. <see cref="Detail"/> says why it failed (<c>status 503</c>, <c>connection refused</c>).</summary>
public sealed record ProbeResult(bool Success, string Detail)
{
    public static ProbeResult Passed { get; } = new(true, "");

    public static ProbeResult Failed(string detail) => new(false, detail);
}

/// <summary>
/// One kind of check (http, tcp, exec) against one replica. A check returns a result for every
/// answer it gets and throws <see cref="OperationCanceledException"/> when its token is cancelled;
/// the <see cref="ProbeRunner"/> turns the timeout into <c>timed out after 1s</c>.
/// </summary>
public interface IProbeCheck
{
    /// <summary>What is checked, for messages: <c>http GET /healthz on port http</c>.</summary>
    string Description { get; }

    Task<ProbeResult> CheckAsync(CancellationToken cancellationToken);
}

/// <summary>A change of a probe's verdict, with the message to report.</summary>
/// <param name="Kind">Readiness or liveness.</param>
/// <param name="Healthy">The new verdict: ready / alive.</param>
/// <param name="Message"><c>readiness probe failed: http GET / on port http: status 503</c>, or <c>readiness probe succeeded</c>.</param>
/// <param name="Time">When the deciding check finished.</param>
public sealed record ProbeTransition(ProbeKind Kind, bool Healthy, string Message, DateTimeOffset Time);

/// <summary>Timing and thresholds of a probe, with the defaults Kubernetes uses where the spec is silent.</summary>
public sealed record ProbeSettings
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan InitialDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Consecutive failures that flip a healthy probe to unhealthy.</summary>
    public int FailureThreshold { get; init; } = 3;

    /// <summary>Consecutive successes that flip an unhealthy probe to healthy.</summary>
    public int SuccessThreshold { get; init; } = 1;

    /// <summary>The settings of a spec's probe; unset (zero) fields take the defaults.</summary>
    public static ProbeSettings FromProto(Probe probe)
    {
        ArgumentNullException.ThrowIfNull(probe);
        var defaults = new ProbeSettings();
        return new ProbeSettings
        {
            Interval = Positive(probe.Interval?.ToTimeSpan()) ?? defaults.Interval,
            Timeout = Positive(probe.Timeout?.ToTimeSpan()) ?? defaults.Timeout,
            InitialDelay = Positive(probe.InitialDelay?.ToTimeSpan()) ?? defaults.InitialDelay,
            FailureThreshold = probe.FailureThreshold > 0 ? probe.FailureThreshold : defaults.FailureThreshold,
            SuccessThreshold = probe.SuccessThreshold > 0 ? probe.SuccessThreshold : defaults.SuccessThreshold,
        };
    }

    private static TimeSpan? Positive(TimeSpan? value) => value is { } v && v > TimeSpan.Zero ? v : null;
}

/// <summary>Durations the way users write them (<c>250ms</c>, <c>2s</c>, <c>1m30s</c>), for messages.</summary>
public static class DurationText
{
    public static string Format(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return "0s";
        }

        if (duration < TimeSpan.FromSeconds(1))
        {
            return ((long)Math.Round(duration.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var text = "";
        if (duration.TotalHours >= 1)
        {
            text += ((long)duration.TotalHours).ToString(CultureInfo.InvariantCulture) + "h";
        }

        if (duration.Minutes > 0)
        {
            text += duration.Minutes.ToString(CultureInfo.InvariantCulture) + "m";
        }

        var seconds = duration.Seconds + (duration.Milliseconds / 1000.0);
        if (seconds > 0 || text.Length == 0)
        {
            text += seconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
        }

        return text;
    }
}
