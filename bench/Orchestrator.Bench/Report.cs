using System.Globalization;
using System.Text;

namespace Orchestrator.Bench;

/// <summary>One measured row: what, on which store, throughput and latency, and the ratio to its baseline.</summary>
internal sealed record Row(string Scenario, string Subject, double OpsPerSecond, double P50Ms, double P99Ms, string Baseline, double? Ratio, string Note = "");

/// <summary>
/// One measured quantity that is not a latency distribution (a time to all ready, a resident set
/// size), with the ratio to its baseline. The note says which way the ratio is better.
/// </summary>
internal sealed record ValueRow(string Scenario, string Subject, double Value, string Unit, string Baseline, double? Ratio, string Note = "");

/// <summary>Collects rows and prints them as Markdown tables (pasted into docs/benchmarks.md).</summary>
internal sealed class Report
{
    private readonly List<Row> _rows = [];
    private readonly List<ValueRow> _values = [];

    public void Add(Row row)
    {
        _rows.Add(row);
        Console.WriteLine(Format(row));
    }

    public void Add(ValueRow row)
    {
        _values.Add(row);
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"  {row.Scenario,-34} {row.Subject,-34} {row.Value,10:F1} {row.Unit,-4} {(row.Ratio is { } r ? $"ratio {r:F2} vs {row.Baseline}" : "")} {row.Note}"));
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        if (_rows.Count > 0)
        {
            sb.AppendLine("| scenario | subject | ops/s | p50 ms | p99 ms | baseline | ratio | note |");
            sb.AppendLine("|---|---|---:|---:|---:|---|---:|---|");
            foreach (var row in _rows)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {row.Scenario} | {row.Subject} | {Num(row.OpsPerSecond, "F0")} | {Num(row.P50Ms, "F3")} | {Num(row.P99Ms, "F3")} | {row.Baseline} | {(row.Ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "")} | {row.Note} |");
            }
        }

        if (_values.Count > 0)
        {
            if (_rows.Count > 0)
            {
                sb.AppendLine();
            }

            sb.AppendLine("| scenario | subject | value | baseline | ratio | note |");
            sb.AppendLine("|---|---|---:|---|---:|---|");
            foreach (var row in _values)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {row.Scenario} | {row.Subject} | {row.Value:F1} {row.Unit} | {row.Baseline} | {(row.Ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "")} | {row.Note} |");
            }
        }

        return sb.ToString();
    }

    private static string Num(double value, string format) =>
        double.IsNaN(value) ? "" : value.ToString(format, CultureInfo.InvariantCulture);

    private static string Format(Row row) => string.Create(
        CultureInfo.InvariantCulture,
        $"  {row.Scenario,-28} {row.Subject,-26} {(double.IsNaN(row.OpsPerSecond) ? "-" : row.OpsPerSecond.ToString("F0", CultureInfo.InvariantCulture)),10} ops/s  p50 {row.P50Ms,8:F3} ms  p99 {row.P99Ms,8:F3} ms  {(row.Ratio is { } r ? $"ratio {r:F2} vs {row.Baseline}" : "")} {row.Note}");
}
