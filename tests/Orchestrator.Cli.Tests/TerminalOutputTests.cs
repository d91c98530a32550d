using System.Text.RegularExpressions;
using Orchestrator.Cli.Commands;
using Orchestrator.Cli.Parsing;
using static Orchestrator.Cli.Tests.Samples;

namespace Orchestrator.Cli.Tests;

public sealed partial class TerminalOutputTests
{
    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex Ansi();

    /// <summary>A terminal of a given width.</summary>
    private sealed class Terminal(int width) : IConsoleIO, IDisposable
    {
        private readonly StringWriter _out = new();

        public TextWriter Out => _out;

        public TextWriter Error => TextWriter.Null;

        public TextReader In => TextReader.Null;

        public bool IsTerminal => true;

        public int Width => width;

        public string Text => _out.ToString();

        public void Dispose() => _out.Dispose();
    }

    [Fact]
    public async Task On_a_narrow_terminal_tables_wrap_within_its_width()
    {
        using var terminal = new Terminal(60);

        await GetCommand.WriteAsync(terminal, ObjectKinds.Service, [Wrap(Web()), Wrap(Api())], "table", single: false, Now);

        var lines = Orc.Lines(Ansi().Replace(terminal.Text, ""));
        Assert.Contains("NAME", lines[0], StringComparison.Ordinal);
        Assert.All(lines, l => Assert.True(l.Length <= 60, $"line wider than the terminal: \"{l}\""));
        Assert.Contains(lines, l => l.StartsWith("web", StringComparison.Ordinal));
    }
}
