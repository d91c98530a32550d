using YamlDotNet.Core;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>Turns YamlDotNet's syntax errors into plain words with a likely fix.</summary>
internal static class YamlSyntax
{
    /// <summary>The 1-based number of the first line whose indentation contains a tab, or null.</summary>
    public static int? FirstTabIndentedLine(string content)
    {
        var lines = content.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var indentation = lines[i][..(lines[i].Length - lines[i].TrimStart(' ', '\t').Length)];
            if (indentation.Contains('\t', StringComparison.Ordinal) && lines[i].Trim().Length > 0)
            {
                return i + 1;
            }
        }

        return null;
    }

    public static (string Field, string Message) Explain(YamlException e)
    {
        var column = e.Start.Column;
        var message = e.Message;
        const string duplicate = "Duplicate key ";
        if (message.StartsWith(duplicate, StringComparison.Ordinal))
        {
            return (message[duplicate.Length..].Trim(), "is set twice in the same mapping; keep one");
        }

        if (e is AnchorNotFoundException)
        {
            return ("", $"not valid YAML (column {column}): an alias (*name) refers to an anchor (&name) that is not defined before it; define the anchor first or write the value out");
        }

        var plain =
            message.Contains("found invalid mapping", StringComparison.Ordinal) || message.Contains("mapping values are not allowed", StringComparison.Ordinal)
                ? "a value contains \": \" or a line is indented too far; quote values that contain a colon and line up fields of one mapping"
            : message.Contains("cannot start any token", StringComparison.Ordinal)
                ? "a character cannot start a value here (tabs cannot indent YAML); indent with spaces and quote values starting with @ or `"
            : message.Contains("flow sequence", StringComparison.Ordinal)
                ? "a [list] is not closed; add the missing ] or a comma between items"
            : message.Contains("flow mapping", StringComparison.Ordinal)
                ? "a {mapping} is not closed; add the missing } or a comma between fields"
            : message.Contains("double-quoted", StringComparison.Ordinal) || message.Contains("single-quoted", StringComparison.Ordinal) || message.Contains("end of stream", StringComparison.Ordinal)
                ? "a quoted value is not closed; add the closing quote"
            : message.Contains("did not find expected key", StringComparison.Ordinal) || message.Contains("indentation", StringComparison.Ordinal) || message.Contains("did not find expected", StringComparison.Ordinal)
                ? "the indentation does not line up; fields of one mapping and items of one list start in the same column"
            : $"{message.TrimEnd('.')}; check the indentation and quoting";
        return ("", $"not valid YAML (column {column}): {plain}");
    }
}
