using System.Text;

namespace Orchestrator.Cli.Output;

/// <summary>
/// Builds <c>orc describe</c> text: blocks of <c>Label:  value</c> lines whose values line up,
/// nested sections, and embedded tables, like <c>kubectl describe</c>.
/// </summary>
public sealed class DescribeWriter
{
    private readonly StringBuilder _text = new();
    private readonly List<(string Label, string Value)> _block = [];
    private int _indent;

    public DescribeWriter Field(string label, string? value)
    {
        _block.Add((label, string.IsNullOrEmpty(value) ? Humanize.None : value));
        return this;
    }

    /// <summary>A field shown only when it has a value.</summary>
    public DescribeWriter Optional(string label, string? value) => string.IsNullOrEmpty(value) ? this : Field(label, value);

    /// <summary>A titled section whose content is indented by two spaces.</summary>
    public DescribeWriter Section(string title, Action<DescribeWriter> content)
    {
        Flush();
        Line($"{title}:");
        _indent += 2;
        content(this);
        Flush();
        _indent -= 2;
        return this;
    }

    /// <summary>A titled table (or "&lt;none&gt;" when there are no rows).</summary>
    public DescribeWriter Table(string title, IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        Flush();
        if (rows.Count == 0)
        {
            Line($"{title}:".PadRight(LabelWidth(title) + 2) + Humanize.None);
            return this;
        }

        Line($"{title}:");
        using var buffer = new BufferConsoleIO();
        TableWriter.Write(buffer, headers, rows);
        foreach (var line in buffer.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Line("  " + line.TrimEnd('\r'));
        }

        return this;
    }

    public override string ToString()
    {
        Flush();
        return _text.ToString();
    }

    private static int LabelWidth(string label) => Math.Max(label.Length + 1, 16);

    private void Flush()
    {
        if (_block.Count == 0)
        {
            return;
        }

        var width = Math.Max(_block.Max(f => f.Label.Length) + 1, 16 - _indent);
        foreach (var (label, value) in _block)
        {
            var lines = value.Split('\n');
            Line($"{label}:".PadRight(width + 2) + lines[0]);
            foreach (var more in lines.Skip(1))
            {
                Line(new string(' ', width + 2) + more);
            }
        }

        _block.Clear();
    }

    private void Line(string text) => _text.Append(' ', _indent).Append(text.TrimEnd()).Append('\n');

    /// <summary>Captures a table's plain rendering.</summary>
    private sealed class BufferConsoleIO : IConsoleIO, IDisposable
    {
        private readonly StringWriter _out = new();

        public TextWriter Out => _out;

        public TextWriter Error => TextWriter.Null;

        public TextReader In => TextReader.Null;

        public bool IsTerminal => false;

        public int Width => 0;

        public string Text => _out.ToString();

        public void Dispose() => _out.Dispose();
    }
}
