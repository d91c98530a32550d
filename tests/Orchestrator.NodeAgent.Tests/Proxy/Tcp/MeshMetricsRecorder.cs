using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.NodeAgent.Proxy;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

/// <summary>A <see cref="MeshMetrics"/> of its own and what it recorded (only its own meter: tests run in parallel).</summary>
internal sealed class MeshMetricsRecorder : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, long Value, Dictionary<string, object?> Tags)> _measurements = new();

    public MeshMetricsRecorder()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = _services.GetRequiredService<IMeterFactory>();
        Metrics = new MeshMetrics(factory);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            _measurements.Enqueue((instrument.Name, value, copy));
        });
        _listener.Start();
    }

    public MeshMetrics Metrics { get; }

    /// <summary>Errors counted with this reason.</summary>
    public long Errors(string reason) => Sum("orc.mesh.errors", "reason", reason);

    /// <summary>Connections completed with this outcome.</summary>
    public long Completed(string outcome) => Sum("orc.mesh.requests", "outcome", outcome);

    /// <summary>Connections started and not completed.</summary>
    public long Active => _measurements.Where(m => m.Instrument == "orc.mesh.active").Sum(m => m.Value);

    public void Dispose()
    {
        _listener.Dispose();
        _services.Dispose();
    }

    private long Sum(string instrument, string tag, string value) =>
        _measurements
            .Where(m => m.Instrument == instrument && Equals(m.Tags.GetValueOrDefault(tag), value))
            .Sum(m => m.Value);
}
