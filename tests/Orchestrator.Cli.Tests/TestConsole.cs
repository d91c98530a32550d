namespace Orchestrator.Cli.Tests;

/// <summary>Captured stdout/stderr and a given stdin, not a terminal. Safe to read while a command writes.</summary>
public sealed class TestConsole : IConsoleIO, IDisposable
{
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private readonly StringReader _in;

    public TestConsole(string stdin = "")
    {
        _in = new StringReader(stdin);
        // Synchronized writers lock on themselves, so reading under the same lock sees whole lines.
        Out = TextWriter.Synchronized(_out);
        Error = TextWriter.Synchronized(_error);
    }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public TextReader In => _in;

    public bool IsTerminal => false;

    public int Width => 80;

    public string Stdout
    {
        get
        {
            lock (Out)
            {
                return _out.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (Error)
            {
                return _error.ToString();
            }
        }
    }

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
        public string[] StdoutLines => Lines(Stdout);

        public string[] StderrLines => Lines(Stderr);

        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
    }

    public static string[] Lines(string text) => text.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public static async Task<Result> RunAsync(
        string[] args,
        string stdin = "",
        IReadOnlyDictionary<string, string>? environment = null,
        TimeProvider? time = null)
    {
        using var console = new TestConsole(stdin);
        var code = await RunAsync(args, console, TestContext.Current.CancellationToken, environment, time);
        return new Result(code, console.Stdout, console.Stderr);
    }

    /// <summary>Runs with a console the caller can watch, until the command ends or <paramref name="cancellationToken"/> fires (as Ctrl-C would).</summary>
    public static Task<int> RunAsync(
        string[] args,
        TestConsole console,
        CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null,
        TimeProvider? time = null) =>
        OrcApp.RunAsync(
            args,
            console,
            name => environment is not null && environment.TryGetValue(name, out var value) ? value : null,
            cancellationToken,
            time);

    /// <summary>Waits (at most 10 s) until <paramref name="condition"/> holds.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"timed out waiting for {what}");
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, TestContext.Current.CancellationToken);
        }
    }
}
