namespace Orchestrator.Cli.Tests;

/// <summary>Captured stdout/stderr and a given stdin, not a terminal.</summary>
public sealed class TestConsole(string stdin = "") : IConsoleIO, IDisposable
{
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private readonly StringReader _in = new(stdin);

    public TextWriter Out => _out;

    public TextWriter Error => _error;

    public TextReader In => _in;

    public bool IsTerminal => false;

    public int Width => 80;

    public string Stdout => _out.ToString();

    public string Stderr => _error.ToString();

    public void Dispose()
    {
        _out.Dispose();
        _error.Dispose();
        _in.Dispose();
    }
}

/// <summary>Runs <c>orc</c> in-process with captured output.</summary>
public static class Orc
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
    }

    public static async Task<Result> RunAsync(
        string[] args,
        string stdin = "",
        IReadOnlyDictionary<string, string>? environment = null,
        TimeProvider? time = null) =>
        await RunUntilAsync(args, TestContext.Current.CancellationToken, stdin, environment, time);

    /// <summary>Runs until the command ends or <paramref name="cancellationToken"/> fires (as Ctrl-C would).</summary>
    public static async Task<Result> RunUntilAsync(
        string[] args,
        CancellationToken cancellationToken,
        string stdin = "",
        IReadOnlyDictionary<string, string>? environment = null,
        TimeProvider? time = null)
    {
        using var console = new TestConsole(stdin);
        var code = await OrcApp.RunAsync(
            args,
            console,
            name => environment is not null && environment.TryGetValue(name, out var value) ? value : null,
            cancellationToken,
            time);
        return new Result(code, console.Stdout, console.Stderr);
    }
}
