using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// Reads typed values out of YAML nodes and collects an error for everything that is wrong, with the node's
/// line, instead of stopping at the first problem. Each method returns null when the value is absent or bad.
/// </summary>
internal sealed class SpecReader(string source)
{
    private readonly List<SpecError> _errors = [];

    public IReadOnlyList<SpecError> Errors => _errors;

    public int ErrorCount => _errors.Count;

    public void Error(YamlNode node, string field, string message) =>
        _errors.Add(new SpecError(source, (int)node.Start.Line, (int)node.Start.Column, field, message));

    public void Error(int line, int column, string field, string message) =>
        _errors.Add(new SpecError(source, line, column, field, message));

    public static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    /// <summary>True for an explicit YAML null (<c>~</c>, <c>null</c>, or nothing after the colon); quoted text is never null.</summary>
    public static bool IsNull(YamlNode? node) =>
        node is null ||
        (node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } scalar &&
         scalar.Value is null or "" or "~" or "null" or "Null" or "NULL");

    /// <summary>How a node reads in a message: <c>a list</c>, <c>a mapping</c>, or the quoted text.</summary>
    public static string Describe(YamlNode node) => node switch
    {
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        YamlScalarNode s when IsNull(s) => "nothing",
        YamlScalarNode s => Quote(s.Value ?? ""),
        _ => "something else",
    };

    public static string Quote(string text) => "\"" + text.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// Reads a mapping, reporting unknown fields with a "did you mean" over <paramref name="allowed"/>
    /// (or the list of valid fields when nothing is close). <paramref name="hint"/> may explain a field
    /// that is valid elsewhere (a Job field on a Service).
    /// </summary>
    public Fields? Map(YamlNode node, string path, IReadOnlyList<string> allowed, string example, Func<string, string?>? hint = null)
    {
        if (node is not YamlMappingNode mapping)
        {
            Error(node, path, $"expected a mapping such as {example}; found {Describe(node)}");
            return null;
        }

        var fields = new Fields(mapping);
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Error(keyNode, path, $"a field name must be plain text; found {Describe(keyNode)}");
                continue;
            }

            if (allowed.Contains(key, StringComparer.Ordinal))
            {
                fields.Add(key, keyNode, value);
                continue;
            }

            var field = Join(path, key);
            if (hint?.Invoke(key) is { } explanation)
            {
                Error(keyNode, field, explanation);
            }
            else if (Suggest.Closest(key, allowed) is { } close)
            {
                Error(keyNode, field, $"unknown field; did you mean {close}?");
            }
            else
            {
                Error(keyNode, field, $"unknown field; the fields here are {string.Join(", ", allowed)}");
            }
        }

        return fields;
    }

    /// <summary>Reads plain text (numbers and booleans are read as written).</summary>
    public string? Text(YamlNode node, string path, string example)
    {
        if (node is YamlScalarNode scalar && !IsNull(scalar))
        {
            return scalar.Value ?? "";
        }

        Error(node, path, $"expected text such as {example}; found {Describe(node)}");
        return null;
    }

    /// <param name="what">What to write, for messages: <c>a count such as 3</c>.</param>
    public int? Int(YamlNode node, string path, int min, int max, string what)
    {
        if (node is not YamlScalarNode scalar || IsNull(scalar))
        {
            Error(node, path, $"expected {what}; found {Describe(node)}");
            return null;
        }

        var text = scalar.Value!.Trim();
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            if (text.Length > 1 && text.TrimStart('+', '-').All(char.IsAsciiDigit))
            {
                value = text.StartsWith('-') ? long.MinValue : long.MaxValue; // digits only, too many of them
            }
            else
            {
                Error(scalar, path, $"{Quote(scalar.Value!)} is not a whole number; write {what}");
                return null;
            }
        }

        if (value < min)
        {
            Error(scalar, path, min == 0
                ? $"{text} is negative; write 0 or more"
                : $"{text} is less than {min.ToString(CultureInfo.InvariantCulture)}; write {what}");
            return null;
        }

        if (value > max)
        {
            Error(scalar, path, $"{text} is more than {max.ToString(CultureInfo.InvariantCulture)}; write {what}");
            return null;
        }

        return (int)value;
    }

    public TimeSpan? Duration(YamlNode node, string path, string example)
    {
        if (node is not YamlScalarNode scalar || IsNull(scalar))
        {
            Error(node, path, $"expected a duration such as {example}; found {Describe(node)}");
            return null;
        }

        if (!DurationText.TryParse(scalar.Value!, out var value, out var error))
        {
            Error(scalar, path, error);
            return null;
        }

        return value;
    }

    /// <summary>Reads one of <paramref name="words"/>, case-insensitively, returning the canonical spelling.</summary>
    public string? Word(YamlNode node, string path, string what, IReadOnlyList<string> words)
    {
        var choices = words.Count == 2 ? $"{words[0]} or {words[1]}" : string.Join(", ", words.Take(words.Count - 1)) + " or " + words[^1];
        if (node is not YamlScalarNode scalar || IsNull(scalar))
        {
            Error(node, path, $"expected {choices}; found {Describe(node)}");
            return null;
        }

        var text = scalar.Value!.Trim();
        var match = words.FirstOrDefault(w => string.Equals(w, text, StringComparison.OrdinalIgnoreCase));
        if (match is not null)
        {
            return match;
        }

        Error(scalar, path, Suggest.Closest(text, words) is { } close
            ? $"{Quote(text)} is not {what}; did you mean {close}?"
            : $"{Quote(text)} is not {what}; write {choices}");
        return null;
    }

    /// <summary>Reads a list of text items (a command, args, exec). A single string is an error that suggests the list.</summary>
    public List<string>? TextList(YamlNode node, string path, string example)
    {
        if (node is YamlScalarNode scalar && !IsNull(scalar))
        {
            var words = (scalar.Value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var suggestion = words.Length == 0 ? example : "[" + string.Join(", ", words.Select(Quote)) + "]";
            Error(scalar, path, $"{Quote(scalar.Value ?? "")} is text; write a list such as {suggestion}");
            return null;
        }

        if (node is not YamlSequenceNode sequence)
        {
            Error(node, path, $"expected a list such as {example}; found {Describe(node)}");
            return null;
        }

        var items = new List<string>();
        var ok = true;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var itemPath = $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (item is YamlScalarNode s && !IsNull(s))
            {
                items.Add(s.Value ?? "");
            }
            else
            {
                Error(item, itemPath, IsNull(item) ? "is empty; write text or remove the item" : $"expected text; found {Describe(item)}");
                ok = false;
            }
        }

        return ok ? items : null;
    }
}

/// <summary>The known fields of one mapping, by name, with their key nodes for line numbers.</summary>
internal sealed class Fields(YamlMappingNode node)
{
    private readonly Dictionary<string, (YamlNode Key, YamlNode Value)> _fields = new(StringComparer.Ordinal);

    public YamlMappingNode Node { get; } = node;

    public void Add(string name, YamlNode key, YamlNode value) => _fields[name] = (key, value);

    /// <summary>The value of a field, or null when it is absent or an explicit YAML null (both mean "use the default").</summary>
    public YamlNode? this[string name] =>
        _fields.TryGetValue(name, out var entry) && !SpecReader.IsNull(entry.Value) ? entry.Value : null;

    public YamlNode? KeyNode(string name) => _fields.TryGetValue(name, out var entry) ? entry.Key : null;
}
