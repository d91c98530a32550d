namespace Orchestrator.Cli;

/// <summary>
/// The streams a command talks to. The real console in <c>Program.cs</c>; string writers in tests,
/// so every command can run in-process and its output be compared.
/// </summary>
public interface IConsoleIO
{
    TextWriter Out { get; }

    TextWriter Error { get; }

    TextReader In { get; }

    /// <summary>True when stdout is a terminal: tables get borders and colours, and wrap to <see cref="Width"/>.</summary>
    bool IsTerminal { get; }

    /// <summary>Terminal width in columns; ignored when not a terminal (tables are never wrapped then).</summary>
    int Width { get; }
}

/// <summary>The process console.</summary>
public sealed class SystemConsoleIO : IConsoleIO
{
    public TextWriter Out => Console.Out;

    public TextWriter Error => Console.Error;

    public TextReader In => Console.In;

    public bool IsTerminal => !Console.IsOutputRedirected;

    public int Width
    {
        get
        {
            try
            {
                return Console.WindowWidth > 0 ? Console.WindowWidth : 120;
            }
            catch (IOException)
            {
                return 120;
            }
        }
    }
}
