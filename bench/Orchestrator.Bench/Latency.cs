using System.Diagnostics;
using HdrHistogram;

namespace Orchestrator.Bench;

/// <summary>A latency recorder over an HdrHistogram, in Stopwatch ticks, reporting milliseconds.</summary>
internal sealed class Latency
{
    private readonly LongHistogram _histogram = new(TimeStamp.Hours(1), 3);
    private readonly Lock _lock = new();

    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _histogram.TotalCount;
            }
        }
    }

    public void Record(long startTimestamp) => RecordTicks(Stopwatch.GetTimestamp() - startTimestamp);

    public void RecordTicks(long ticks)
    {
        lock (_lock)
        {
            _histogram.RecordValue(Math.Max(1, ticks));
        }
    }

    public double PercentileMs(double percentile)
    {
        lock (_lock)
        {
            return _histogram.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency;
        }
    }

    public double P50 => PercentileMs(50);

    public double P99 => PercentileMs(99);
}
