using System.Globalization;

namespace Orchestrator.NodeAgent.Hosting;

/// <summary>CPU and memory quantities in Kubernetes notation (<c>2</c>, <c>1500m</c>, <c>4Gi</c>, <c>512Mi</c>).</summary>
public static class ResourceQuantity
{
    private static readonly (string Suffix, long Factor)[] MemorySuffixes =
    [
        ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40),
        ("k", 1000L), ("K", 1000L), ("M", 1000_000L), ("G", 1000_000_000L), ("T", 1000_000_000_000L),
    ];

    /// <summary>CPU in millicores: <c>2</c> = 2000, <c>0.5</c> = 500, <c>1500m</c> = 1500.</summary>
    public static bool TryParseCpu(string text, out long millis)
    {
        millis = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (text.EndsWith('m'))
        {
            return long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out millis) && millis > 0;
        }

        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cores) || cores <= 0)
        {
            return false;
        }

        millis = (long)(cores * 1000);
        return millis > 0;
    }

    /// <summary>Memory in bytes: <c>4Gi</c>, <c>512Mi</c>, <c>1G</c>, or plain bytes.</summary>
    public static bool TryParseMemory(string text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        foreach (var (suffix, factor) in MemorySuffixes)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                if (!decimal.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value <= 0)
                {
                    return false;
                }

                bytes = (long)(value * factor);
                return bytes > 0;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out bytes) && bytes > 0;
    }

    /// <summary>A short human form: <c>4Gi</c>, <c>512Mi</c>, or bytes.</summary>
    public static string FormatMemory(long bytes) =>
        bytes % (1L << 30) == 0 ? $"{bytes >> 30}Gi"
        : bytes % (1L << 20) == 0 ? $"{bytes >> 20}Mi"
        : bytes.ToString(CultureInfo.InvariantCulture);
}
