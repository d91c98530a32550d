using System.Globalization;

namespace Orchestrator.DemoApp;

/// <summary>One line per lifecycle event on stdout, written at once (a crash must not lose its last line).</summary>
internal static class Log
{
    public static void Line(string message)
    {
        var now = TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        Console.Out.WriteLine($"{now} orc-demo[{Environment.ProcessId}] {message}");
        Console.Out.Flush();
    }
}
