using System.Runtime.InteropServices;

namespace Orchestrator.DemoApp;

/// <summary>An abrupt exit, as a crashing program ends: no shutdown hooks, no draining, just the exit code.</summary>
internal static partial class NativeMethods
{
    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int status);

    /// <summary>Ends the process at once with <paramref name="code"/> after flushing the log.</summary>
    public static void Crash(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        ExitNow(code);
    }
}
