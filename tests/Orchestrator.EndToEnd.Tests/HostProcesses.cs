using System.Globalization;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>What <c>/proc</c> says about the processes of this machine.</summary>
internal static class HostProcesses
{
    /// <summary>True while <paramref name="pid"/> exists and is not a zombie (a zombie has ended; only its parent's wait is missing).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            // "pid (comm) S ...": the state follows the last ')', since comm may hold anything.
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>
    /// Live processes whose command line contains one of <paramref name="commandLineParts"/>, or
    /// whose environment holds one of <paramref name="environmentEntries"/> (NAME=value), as
    /// "pid: command line" for a failure message.
    /// </summary>
    public static IReadOnlyList<string> Matching(IReadOnlyCollection<string> commandLineParts, IReadOnlyCollection<string> environmentEntries)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            var commandLine = Read(Path.Combine(dir, "cmdline"));
            var environment = Read(Path.Combine(dir, "environ")).Split('\0');
            var matches = commandLineParts.Any(p => commandLine.Contains(p, StringComparison.Ordinal))
                || environment.Any(e => environmentEntries.Contains(e, StringComparer.Ordinal));
            if (matches && IsAlive(pid))
            {
                found.Add($"{pid}: {commandLine.Replace('\0', ' ').Trim()}");
            }
        }

        return found;
    }

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process ended while we looked.
            return "";
        }
    }
}
