using SpecSuggest = Orchestrator.ControlPlane.Specs.Suggest;

namespace Orchestrator.Cli.Parsing;

/// <summary>"Did you mean" suggestions for command words and kinds, by the spec parser's edit distance.</summary>
public static class Suggest
{
    /// <summary>
    /// The candidate closest to <paramref name="text"/>, if it is close enough to be a typo: at most
    /// one edit for words up to four letters, two for longer ones (<c>servce</c> gives <c>service</c>).
    /// </summary>
    public static string? Closest(string text, IEnumerable<string> candidates)
    {
        var lower = text.ToLowerInvariant();
        var limit = lower.Length <= 4 ? 1 : 2;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = SpecSuggest.Distance(lower, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= limit ? best : null;
    }
}
