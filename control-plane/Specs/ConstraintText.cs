using System.Text.RegularExpressions;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// Placement constraints as users write them: <c>zone == a</c>, <c>disk != hdd</c>, <c>region in (eu, us)</c>,
/// <c>tier not in (db)</c>. Keys are node label keys; values are label values.
/// </summary>
public static partial class ConstraintText
{
    /// <summary>The accepted forms, for error messages.</summary>
    public const string Forms = "key == value, key != value, key in (a, b) or key not in (a, b)";

    /// <summary>Parses one constraint.</summary>
    /// <param name="error">What is wrong and the accepted forms, when the text is not a constraint.</param>
    public static bool TryParse(string text, out Constraint constraint, out string error)
    {
        constraint = new Constraint();
        error = "";
        var trimmed = text.Trim();
        var compare = Comparison().Match(trimmed);
        var set = SetMembership().Match(trimmed);
        if (!compare.Success && !set.Success)
        {
            error = Suggestion(trimmed) is { } s
                ? $"\"{text}\" is not a constraint; did you mean \"{s}\"? (write {Forms})"
                : $"\"{text}\" is not a constraint; write {Forms}";
            return false;
        }

        var key = (compare.Success ? compare : set).Groups["key"].Value;
        List<string> values = compare.Success
            ? [compare.Groups["value"].Value]
            : [.. set.Groups["values"].Value.Split(',', StringSplitOptions.TrimEntries)];
        if (!Names.IsValidLabelKey(key))
        {
            error = $"\"{key}\" in \"{trimmed}\" is not a label key; keys are letters, digits, '-', '_', '.' and '/', such as zone or disk-type";
            return false;
        }

        if (values.Any(v => !Names.IsValidLabelValue(v)))
        {
            var bad = values.First(v => !Names.IsValidLabelValue(v));
            error = bad.Length == 0
                ? $"\"{trimmed}\" has an empty value; list at least one value, such as {key} in (a, b)"
                : $"\"{bad}\" in \"{trimmed}\" is not a label value; values are letters, digits, '-', '_' and '.', at most 63";
            return false;
        }

        constraint.Key = key;
        constraint.Operator = compare.Success
            ? (compare.Groups["op"].Value == "==" ? ConstraintOperator.Equal : ConstraintOperator.NotEqual)
            : (set.Groups["op"].Value.StartsWith("not", StringComparison.Ordinal) ? ConstraintOperator.NotIn : ConstraintOperator.In);
        constraint.Values.AddRange(values);
        constraint.Text = trimmed;
        return true;
    }

    /// <summary>Formats a constraint in the canonical form (<c>region in (eu, us)</c>).</summary>
    public static string Format(Constraint constraint) => constraint.Operator switch
    {
        ConstraintOperator.Equal => $"{constraint.Key} == {constraint.Values.FirstOrDefault()}",
        ConstraintOperator.NotEqual => $"{constraint.Key} != {constraint.Values.FirstOrDefault()}",
        ConstraintOperator.NotIn => $"{constraint.Key} not in ({string.Join(", ", constraint.Values)})",
        _ => $"{constraint.Key} in ({string.Join(", ", constraint.Values)})",
    };

    private static string? Suggestion(string text)
    {
        // zone = a, zone: a, zone=a, zone eq a
        var loose = LooseEquality().Match(text);
        if (loose.Success)
        {
            var op = loose.Groups["op"].Value.ToLowerInvariant() is "!=" or "<>" or "ne" ? "!=" : "==";
            return $"{loose.Groups["key"].Value} {op} {loose.Groups["value"].Value}";
        }

        // region in eu, us / region in [eu, us]
        var looseSet = LooseSet().Match(text);
        if (looseSet.Success)
        {
            var values = looseSet.Groups["values"].Value.Trim('[', ']', '(', ')', '{', '}', ' ');
            var parts = values.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            return parts.Length == 0 ? null : $"{looseSet.Groups["key"].Value} {looseSet.Groups["op"].Value.ToLowerInvariant()} ({string.Join(", ", parts)})";
        }

        return null;
    }

    [GeneratedRegex(@"^(?<key>[^\s=!()]+)\s*(?<op>==|!=)\s*(?<value>[^\s()]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex Comparison();

    [GeneratedRegex(@"^(?<key>[^\s=!()]+)\s+(?<op>not\s+in|in)\s*\((?<values>[^()]*)\)$", RegexOptions.CultureInvariant)]
    private static partial Regex SetMembership();

    [GeneratedRegex(@"^(?<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*(?<op>=|:|!|<>|\beq\b|\bne\b|===)\s*(?<value>[A-Za-z0-9][-A-Za-z0-9_.]*)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex LooseEquality();

    [GeneratedRegex(@"^(?<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s+(?<op>not\s+in|in)\s+(?<values>.+)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex LooseSet();
}
