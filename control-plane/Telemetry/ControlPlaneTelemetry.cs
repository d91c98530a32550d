using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace Orchestrator.ControlPlane.Telemetry;

/// <summary>
/// The control plane's traces and metrics, both named <see cref="Name"/>:
/// <c>orc.controlplane.applies</c> (by outcome), <c>orc.controlplane.apply.duration</c>,
/// <c>orc.controlplane.store.operation.duration</c> (by operation),
/// <c>orc.controlplane.scheduling.duration</c> (one placement decision, by outcome) and
/// <c>orc.controlplane.watch.streams</c> (open watch streams).
/// </summary>
public sealed class ControlPlaneTelemetry
{
    public const string Name = "Orchestrator.ControlPlane";

    public static readonly ActivitySource ActivitySource = new(Name, Version);

    public ControlPlaneTelemetry(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(Name, Version);
        Applies = meter.CreateCounter<long>("orc.controlplane.applies", "{object}", "Objects applied, by outcome (created, unchanged, configured) or failed applies (invalid, conflict, error).");
        ApplyDuration = meter.CreateHistogram<double>("orc.controlplane.apply.duration", "s", "Time to validate and store one apply request.");
        StoreOperationDuration = meter.CreateHistogram<double>("orc.controlplane.store.operation.duration", "s", "Time of one state store operation, by operation.");
        SchedulingDuration = meter.CreateHistogram<double>("orc.controlplane.scheduling.duration", "s", "Time to decide where one replica goes (filters, scores and its explanation), by outcome (placed, unschedulable).");
        WatchStreams = meter.CreateUpDownCounter<long>("orc.controlplane.watch.streams", "{stream}", "Watch streams currently open.");
    }

    public static string Version { get; } =
        typeof(ControlPlaneTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public Counter<long> Applies { get; }

    public Histogram<double> ApplyDuration { get; }

    public Histogram<double> StoreOperationDuration { get; }

    public Histogram<double> SchedulingDuration { get; }

    public UpDownCounter<long> WatchStreams { get; }
}
