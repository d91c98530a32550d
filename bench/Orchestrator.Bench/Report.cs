using System.Globalization;
using System.Text;

namespace Orchestrator.Bench;

/// <summary>One measured row: what, on which store, throughput and latency, and the ratio to its baseline.</summary>
internal sealed record Row(string Scenario, string Subject, double OpsPerSecond, double P50Ms, double P99Ms, string Baseline, double? Ratio, string Note = "");

/// <summary>Collects rows and prints them as a Markdown table (pasted into docs/benchmarks.md).</summary>
internal sealed class Report
{
    private readonly List<Row> _rows = [];

    public void Add(Row row)
    {
        _rows.Add(row);
        Console.WriteLine(Format(row));
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | subject | ops/s | p50 ms | p99 ms | baseline | ratio | note |");
        sb.AppendLine("|---|---|---:|---:|---:|---|---:|---|");
        foreach (var row in _rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {row.Scenario} | {row.Subject} | {Num(row.OpsPerSecond, "F0")} | {Num(row.P50Ms, "F3")} | {Num(row.P99Ms, "F3")} | {row.Baseline} | {(row.Ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "")} | {row.Note} |");
        }

        return sb.ToString();
    }

    private static string Num(double value, string format) =>
        double.IsNaN(value) ? "" : value.ToString(format, CultureInfo.InvariantCulture);

    private static string Format(Row row) => string.Create(
        CultureInfo.InvariantCulture,
        $"  {row.Scenario,-28} {row.Subject,-26} {(double.IsNaN(row.OpsPerSecond) ? "-" : row.OpsPerSecond.ToString("F0", CultureInfo.InvariantCulture)),10} ops/s  p50 {row.P50Ms,8:F3} ms  p99 {row.P99Ms,8:F3} ms  {(row.Ratio is { } r ? $"ratio {r:F2} vs {row.Baseline}" : "")} {row.Note}");
}
