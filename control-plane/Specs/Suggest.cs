namespace Orchestrator.ControlPlane.Specs;

/// <summary>"Did you mean" lookups by edit distance, for field names and enum values (the CLI uses <see cref="Distance"/> too).</summary>
public static class Suggest
{
    /// <summary>
    /// The candidate closest to <paramref name="input"/>, or null when none is close enough to be a likely typo.
    /// Case and the separators <c>-</c>, <c>_</c> and spaces are ignored first, so <c>stop_grace_period</c>
    /// finds <c>stopGracePeriod</c> and <c>Image</c> finds <c>image</c>.
    /// </summary>
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        var normalized = Normalize(input);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(normalized, Normalize(candidate));
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        // One edit per three characters is a typo; more than that is a different word.
        var allowed = Math.Max(1, normalized.Length / 3);
        return bestDistance <= allowed ? best : null;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps each cost one.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    private static string Normalize(string s) =>
        new(s.Where(c => c is not ('-' or '_' or ' ')).Select(char.ToLowerInvariant).ToArray());
}
