using System.Globalization;
using System.Text.RegularExpressions;

namespace Orchestrator.Cli.Parsing;

/// <summary>Durations on the command line as everywhere in Orchestrator: <c>500ms</c>, <c>5s</c>, <c>2m</c>, <c>1h</c>, <c>1m30s</c>.</summary>
public static partial class DurationText
{
    [GeneratedRegex(@"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var match = Pattern().Match(text.Trim());
        if (!match.Success || text.Trim().Length == 0)
        {
            return false;
        }

        long Part(int group) => match.Groups[group].Success ? long.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
        value = TimeSpan.FromHours(Part(1)) + TimeSpan.FromMinutes(Part(2)) + TimeSpan.FromSeconds(Part(3)) + TimeSpan.FromMilliseconds(Part(4));
        return true;
    }
}
