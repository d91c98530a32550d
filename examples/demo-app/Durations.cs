using System.Globalization;

namespace Orchestrator.DemoApp;

/// <summary>Durations as the spec writes them: <c>500ms</c>, <c>5s</c>, <c>1.5s</c>, <c>2m</c>, <c>1m30s</c>, <c>1h</c>, <c>0</c>.</summary>
public static class Durations
{
    /// <summary>Parses <paramref name="text"/>; on failure returns false with <paramref name="error"/> saying how to write it.</summary>
    public static bool TryParse(string text, out TimeSpan value, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = TimeSpan.Zero;
        error = "";
        var s = text.Trim();
        if (s == "0")
        {
            return true;
        }

        if (s.Length == 0)
        {
            error = "is empty; write a duration such as 5s";
            return false;
        }

        var total = 0.0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == start || !double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                error = $"\"{text}\" is not a duration; write it as 500ms, 5s, 2m or 1h";
                return false;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
            {
                i++;
            }

            double? milliseconds = s[unitStart..i] switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => null,
            };
            if (milliseconds is null)
            {
                error = unitStart == i
                    ? $"\"{text}\" has no unit; add one: {text}s"
                    : $"\"{text}\" has an unknown unit \"{s[unitStart..i]}\"; use ms, s, m or h";
                return false;
            }

            total += number * milliseconds.Value;
        }

        value = TimeSpan.FromMilliseconds(total);
        return true;
    }
}
