using System.Globalization;
using System.Text.RegularExpressions;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// Kubernetes quantities: cpu in cores or millicores (<c>250m</c>, <c>0.5</c>, <c>2</c>), memory in bytes with
/// binary (<c>Ki Mi Gi Ti Pi Ei</c>) or decimal (<c>k M G T P E</c>, <c>1e9</c>) suffixes. Parse errors are
/// sentences for people and suggest the likely intent (<c>128MB</c>: did you mean 128Mi?).
/// </summary>
public static partial class Quantity
{
    private static readonly (string Suffix, long Factor)[] BinarySuffixes =
    [
        ("Ei", 1L << 60), ("Pi", 1L << 50), ("Ti", 1L << 40), ("Gi", 1L << 30), ("Mi", 1L << 20), ("Ki", 1L << 10),
    ];

    private static readonly (string Suffix, long Factor)[] DecimalSuffixes =
    [
        ("E", 1_000_000_000_000_000_000), ("P", 1_000_000_000_000_000), ("T", 1_000_000_000_000),
        ("G", 1_000_000_000), ("M", 1_000_000), ("k", 1_000),
    ];

    /// <summary>Parses a cpu quantity into millicores; throws <see cref="FormatException"/> with a readable message.</summary>
    public static long ParseCpu(string text) =>
        TryParseCpu(text, out var millis, out var error) ? millis : throw new FormatException(error);

    /// <summary>Parses a memory quantity into bytes; throws <see cref="FormatException"/> with a readable message.</summary>
    public static long ParseMemory(string text) =>
        TryParseMemory(text, out var bytes, out var error) ? bytes : throw new FormatException(error);

    /// <summary>Parses a cpu quantity (<c>250m</c>, <c>0.5</c>, <c>2</c>) into millicores.</summary>
    /// <param name="error">Why the text is not a cpu quantity, with a suggestion where one is likely.</param>
    public static bool TryParseCpu(string text, out long millis, out string error)
    {
        millis = 0;
        error = "";
        var trimmed = text.Trim();
        var match = CpuPattern().Match(trimmed);
        if (!match.Success)
        {
            error = $"\"{text}\" is not a quantity; " + (SuggestCpu(trimmed) is { } s
                ? $"did you mean {s}?"
                : "write cores such as 0.5 or 2, or millicores such as 250m");
            return false;
        }

        if (!TryNumber(match.Groups["num"].Value, out var value))
        {
            error = $"\"{text}\" is too large to be a cpu quantity; write cores such as 2 or millicores such as 250m";
            return false;
        }

        if (value < 0)
        {
            error = $"{trimmed} is negative; write a cpu such as 250m";
            return false;
        }

        var milli = match.Groups["suffix"].Success ? value : value * 1000m;
        if (milli != decimal.Truncate(milli))
        {
            error = $"{trimmed} is finer than 1m; cpu is counted in whole millicores";
            return false;
        }

        if (milli > long.MaxValue)
        {
            error = $"{trimmed} is too large to be a cpu quantity; write cores such as 2 or millicores such as 250m";
            return false;
        }

        millis = (long)milli;
        return true;
    }

    /// <summary>Parses a memory quantity (<c>128Mi</c>, <c>1Gi</c>, <c>512M</c>, <c>1e9</c>) into bytes, rounding a fraction of a byte up.</summary>
    /// <param name="error">Why the text is not a memory quantity, with a suggestion where one is likely.</param>
    public static bool TryParseMemory(string text, out long bytes, out string error)
    {
        bytes = 0;
        error = "";
        var trimmed = text.Trim();
        var match = MemoryPattern().Match(trimmed);
        if (!match.Success)
        {
            error = SuggestMemory(trimmed) is { } s
                ? $"\"{text}\" is not a quantity; did you mean {s}?"
                : $"\"{text}\" is not a quantity; write memory such as 128Mi, 1Gi or 512M";
            return false;
        }

        var suffix = match.Groups["suffix"].Value;
        if (suffix == "m")
        {
            // Kubernetes reads "128m" as 0.128 bytes; nobody means that.
            error = $"\"{text}\" means thousandths of a byte (m is milli); did you mean {match.Groups["num"].Value}Mi?";
            return false;
        }

        if (!TryNumber(match.Groups["num"].Value, out var value))
        {
            error = $"\"{text}\" is too large; write memory such as 128Mi or 1Gi";
            return false;
        }

        if (value < 0)
        {
            error = $"{trimmed} is negative; write memory such as 128Mi";
            return false;
        }

        var factor = suffix.Length == 0 ? 1L
            : BinarySuffixes.Concat(DecimalSuffixes).First(f => f.Suffix == suffix).Factor;
        decimal total;
        try
        {
            total = decimal.Ceiling(value * factor);
        }
        catch (OverflowException)
        {
            total = decimal.MaxValue;
        }

        if (total > long.MaxValue)
        {
            error = $"{trimmed} is too large; write memory such as 128Mi or 1Gi";
            return false;
        }

        bytes = (long)total;
        return true;
    }

    /// <summary>Formats millicores the way users write them: <c>2</c> for whole cores, <c>250m</c> otherwise.</summary>
    public static string FormatCpu(long millis) =>
        millis % 1000 == 0
            ? (millis / 1000).ToString(CultureInfo.InvariantCulture)
            : millis.ToString(CultureInfo.InvariantCulture) + "m";

    /// <summary>Formats bytes exactly, in the shortest form: <c>128Mi</c>, <c>512M</c>, <c>1000</c>; binary suffixes win ties.</summary>
    public static string FormatMemory(long bytes)
    {
        var best = bytes.ToString(CultureInfo.InvariantCulture);
        if (bytes == 0)
        {
            return best;
        }

        foreach (var (suffix, factor) in BinarySuffixes.Concat(DecimalSuffixes))
        {
            if (bytes % factor == 0)
            {
                var candidate = (bytes / factor).ToString(CultureInfo.InvariantCulture) + suffix;
                if (candidate.Length < best.Length)
                {
                    best = candidate;
                }
            }
        }

        return best;
    }

    /// <summary>
    /// Memory for people rather than specs: exact (<see cref="FormatMemory"/>) when that is short
    /// (<c>128Mi</c>, <c>1Gi</c>), otherwise rounded to one decimal in the largest binary unit
    /// (<c>24421952Ki</c> reads as <c>23.3Gi</c>). Not for output that is applied back.
    /// </summary>
    public static string FormatMemoryRounded(long bytes)
    {
        var exact = FormatMemory(bytes);
        if (exact.Length <= 6)
        {
            return exact;
        }

        string[] units = ["Ki", "Mi", "Gi", "Ti", "Pi"];
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit < 0 ? exact : value.ToString(value >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture) + units[unit];
    }

    /// <summary>A likely intended cpu quantity for a common mistake (<c>1.5 cpu</c>, <c>500mc</c>), or null.</summary>
    internal static string? SuggestCpu(string text)
    {
        var match = NumberWithUnit().Match(text);
        if (!match.Success)
        {
            return null;
        }

        var number = match.Groups["num"].Value;
        return match.Groups["unit"].Value.ToLowerInvariant() switch
        {
            "" or "c" or "cpu" or "cpus" or "core" or "cores" or "vcpu" or "vcpus" => number,
            "m" or "mc" or "mcpu" or "millicore" or "millicores" or "millicpu" or "millicpus" or "milli" or "millis" => number + "m",
            _ => null,
        };
    }

    /// <summary>A likely intended memory quantity for a common mistake (<c>128MB</c>, <c>1gb</c>, <c>64 Mi</c>), or null.</summary>
    internal static string? SuggestMemory(string text)
    {
        var match = NumberWithUnit().Match(text);
        if (!match.Success)
        {
            return null;
        }

        var number = match.Groups["num"].Value;
        var unit = match.Groups["unit"].Value.ToLowerInvariant();
        if (unit is "b" or "byte" or "bytes" or "")
        {
            return number;
        }

        // 128MB, 128mb, 128MiB, 128mib, 128 Mi, 1g: the binary unit is what memory sizes usually mean.
        var letter = unit[0];
        var rest = unit[1..];
        if (rest is "" or "b" or "i" or "ib" && "kmgtpe".Contains(letter, StringComparison.Ordinal))
        {
            return number + char.ToUpperInvariant(letter) + "i";
        }

        return null;
    }

    private static bool TryNumber(string text, out decimal value)
    {
        value = 0;
        var mantissa = text;
        var exponent = 0;
        var e = text.IndexOfAny(['e', 'E']);
        if (e >= 0)
        {
            mantissa = text[..e];
            if (!int.TryParse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent) || exponent is > 28 or < -28)
            {
                return false;
            }
        }

        if (!decimal.TryParse(mantissa, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value))
        {
            return false;
        }

        try
        {
            for (var i = 0; i < Math.Abs(exponent); i++)
            {
                value = exponent > 0 ? value * 10 : value / 10;
            }
        }
        catch (OverflowException)
        {
            return false;
        }

        return true;
    }

    [GeneratedRegex(@"^(?<num>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)(?<suffix>m)?$", RegexOptions.CultureInvariant)]
    private static partial Regex CpuPattern();

    [GeneratedRegex(@"^(?<num>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)(?<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$", RegexOptions.CultureInvariant)]
    private static partial Regex MemoryPattern();

    [GeneratedRegex(@"^(?<num>[+-]?(\d+(\.\d*)?|\.\d+))\s*(?<unit>[A-Za-z]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex NumberWithUnit();
}
