using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// Durations as users write them: <c>500ms</c>, <c>5s</c>, <c>1.5s</c>, <c>2m</c>, <c>1h</c>, <c>1m30s</c>, and
/// <c>0</c>. Whole milliseconds only. Errors suggest the likely intent (<c>5</c>: add a unit: 5s).
/// </summary>
public static partial class DurationText
{
    /// <summary>The longest duration accepted anywhere in a spec: 1000 hours.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromHours(1000);

    /// <summary>Parses a duration; throws <see cref="FormatException"/> with a readable message.</summary>
    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value, out var error) ? value : throw new FormatException(error);

    /// <summary>Parses a duration.</summary>
    /// <param name="error">Why the text is not a duration, with a suggestion where one is likely.</param>
    public static bool TryParse(string text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        error = "";
        var trimmed = text.Trim();
        if (trimmed == "0")
        {
            return true;
        }

        if (trimmed.StartsWith('-') && TryParse(trimmed[1..], out _, out _))
        {
            error = $"{trimmed} is negative; write 0s or more";
            return false;
        }

        if (!Whole().IsMatch(trimmed))
        {
            error = Suggestion(trimmed) is { } s
                ? (s.NoUnit ? $"{trimmed} has no unit; add a unit: {s.Text}" : $"\"{text}\" is not a duration; did you mean {s.Text}?")
                : $"\"{text}\" is not a duration; write a number with a unit: 500ms, 5s, 2m or 1h";
            return false;
        }

        var millis = 0m;
        foreach (Match part in Part().Matches(trimmed))
        {
            var number = decimal.Parse(part.Groups["num"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            millis += number * part.Groups["unit"].Value switch
            {
                "ms" => 1m,
                "s" => 1000m,
                "m" => 60_000m,
                _ => 3_600_000m,
            };
            if (millis > (decimal)Max.TotalMilliseconds)
            {
                error = $"{trimmed} is longer than {Format(Max)}; write a shorter duration";
                return false;
            }
        }

        if (millis != decimal.Truncate(millis))
        {
            error = $"{trimmed} is finer than 1ms; write whole milliseconds such as 1500ms";
            return false;
        }

        value = TimeSpan.FromMilliseconds((long)millis);
        return true;
    }

    /// <summary>Formats a duration so <see cref="Parse"/> reads it back exactly: <c>500ms</c>, <c>5s</c>, <c>1.5s</c>, <c>1m30s</c>, <c>2h</c>.</summary>
    public static string Format(TimeSpan value)
    {
        var millis = (long)value.TotalMilliseconds;
        if (millis == 0)
        {
            return "0s";
        }

        var sign = millis < 0 ? "-" : "";
        millis = Math.Abs(millis);
        if (millis < 1000)
        {
            return sign + millis.ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var builder = new StringBuilder(sign);
        var hours = millis / 3_600_000;
        var minutes = millis / 60_000 % 60;
        var secondsMillis = millis % 60_000;
        if (hours > 0)
        {
            builder.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('h');
        }

        if (minutes > 0)
        {
            builder.Append(minutes.ToString(CultureInfo.InvariantCulture)).Append('m');
        }

        if (secondsMillis > 0)
        {
            builder.Append((secondsMillis / 1000m).ToString("0.###", CultureInfo.InvariantCulture)).Append('s');
        }

        return builder.ToString();
    }

    private static (string Text, bool NoUnit)? Suggestion(string text)
    {
        var match = NumberWithUnit().Match(text);
        if (!match.Success)
        {
            return null;
        }

        var number = match.Groups["num"].Value;
        var unit = match.Groups["unit"].Value;
        if (unit.Length == 0)
        {
            return (number + "s", true);
        }

        var lower = unit.ToLowerInvariant();
        string? fixedUnit = lower switch
        {
            "sec" or "secs" or "second" or "seconds" => "s",
            "min" or "mins" or "minute" or "minutes" => "m",
            "msec" or "msecs" or "milli" or "millis" or "millisecond" or "milliseconds" => "ms",
            "hr" or "hrs" or "hour" or "hours" => "h",
            "s" or "m" or "h" or "ms" => lower,
            _ => null,
        };
        if (fixedUnit is not null)
        {
            return (number + fixedUnit, false);
        }

        if (lower is "d" or "day" or "days" && decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var days))
        {
            return ((days * 24).ToString("0.###", CultureInfo.InvariantCulture) + "h", false);
        }

        return null;
    }

    [GeneratedRegex(@"^(\d+(\.\d+)?(ms|h|m|s))+$", RegexOptions.CultureInvariant)]
    private static partial Regex Whole();

    [GeneratedRegex(@"(?<num>\d+(\.\d+)?)(?<unit>ms|h|m|s)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();

    [GeneratedRegex(@"^(?<num>\d+(\.\d+)?)\s*(?<unit>[A-Za-z]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex NumberWithUnit();
}
