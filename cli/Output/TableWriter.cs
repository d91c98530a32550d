using Spectre.Console;
using Spectre.Console.Rendering;

namespace Orchestrator.Cli.Output;

/// <summary>
/// Renders rows as a table with Spectre.Console. On a terminal: bold headers, wrapped to the
/// terminal's width. Otherwise (a pipe, a file, a test): plain kubectl-style columns, no colour,
/// no border, never wrapped, no trailing spaces, so the output can be read by <c>awk</c> and compared in tests.
/// </summary>
public static class TableWriter
{
    private const int Gap = 3;

    public static void Write(IConsoleIO io, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, bool showHeader = true)
    {
        var table = new Table().Border(TableBorder.None);
        table.ShowHeaders = showHeader;
        for (var i = 0; i < headers.Count; i++)
        {
            var column = new TableColumn(io.IsTerminal ? new Markup($"[bold]{Markup.Escape(headers[i])}[/]") : new Text(headers[i]))
            {
                NoWrap = !io.IsTerminal,
                Padding = new Padding(0, 0, i == headers.Count - 1 ? 0 : Gap, 0),
            };
            table.AddColumn(column);
        }

        foreach (var row in rows)
        {
            table.AddRow(row.Select(cell => (IRenderable)new Text(cell)));
        }

        using var buffer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = io.IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = io.IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(buffer),
        });
        // Off a terminal nothing wraps: a very wide virtual console keeps every row on one line.
        console.Profile.Width = io.IsTerminal ? io.Width : 100_000;
        console.Write(table);

        foreach (var line in buffer.ToString().Split('\n'))
        {
            var trimmed = line.TrimEnd();
            if (trimmed.Length > 0)
            {
                io.Out.WriteLine(trimmed);
            }
        }
    }
}
