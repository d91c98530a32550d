using Orchestrator.Cli;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>Runs <c>orc</c> in-process, as the user would type it, with its output captured.</summary>
internal static class Orc
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] StdoutLines => Stdout.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
    }

    public static async Task<Result> RunAsync(params string[] args)
    {
        using var console = new CapturedConsole();
        // No environment: ORC_SERVER and friends of the machine running the tests must not leak in.
        var code = await OrcApp.RunAsync(args, console, _ => null, TestContext.Current.CancellationToken);
        return new Result(code, console.Out.ToString()!, console.Error.ToString()!);
    }

    private sealed class CapturedConsole : IConsoleIO, IDisposable
    {
        public TextWriter Out { get; } = new StringWriter();

        public TextWriter Error { get; } = new StringWriter();

        public TextReader In { get; } = new StringReader("");

        public bool IsTerminal => false;

        public int Width => 120;

        public void Dispose()
        {
            Out.Dispose();
            Error.Dispose();
            In.Dispose();
        }
    }
}
