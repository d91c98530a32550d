using System.Globalization;

namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>
/// The fields of <c>/proc/&lt;pid&gt;/stat</c> the runtime needs. The start time (clock ticks since
/// boot) tells a live replica from a recycled pid: a pid is adopted only if both match (ADR 0010).
/// </summary>
internal readonly record struct ProcStat(int Pid, char State, int ProcessGroupId, int SessionId, long StartTicks, long RssPages)
{
    public bool IsZombie => State is 'Z' or 'X';

    /// <summary>Reads a process's stat line; null when the process does not exist.</summary>
    public static ProcStat? Read(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return Parse(text);
    }

    /// <summary>
    /// Parses a stat line. The command name (field 2) is in parentheses and may itself contain
    /// spaces and parentheses, so fields are counted from the last ')'.
    /// </summary>
    public static ProcStat? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var open = text.IndexOf('(', StringComparison.Ordinal);
        var close = text.LastIndexOf(')');
        if (open <= 0 || close < open)
        {
            return null;
        }

        var rest = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        // rest[0] is field 3 (state); field N is rest[N - 3].
        if (rest.Length < 22
            || !int.TryParse(text.AsSpan(0, open).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid)
            || !int.TryParse(rest[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pgrp)
            || !int.TryParse(rest[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var session)
            || !long.TryParse(rest[19], NumberStyles.Integer, CultureInfo.InvariantCulture, out var startTicks)
            || !long.TryParse(rest[21], NumberStyles.Integer, CultureInfo.InvariantCulture, out var rss))
        {
            return null;
        }

        return new ProcStat(pid, rest[0][0], pgrp, session, startTicks, rss);
    }

    /// <summary>Every live process in a session (the wrapper and everything it started).</summary>
    public static IEnumerable<ProcStat> InSession(int sessionId)
    {
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories("/proc");
        }
        catch (IOException)
        {
            yield break;
        }

        foreach (var entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            if (Read(pid) is { } stat && stat.SessionId == sessionId && !stat.IsZombie)
            {
                yield return stat;
            }
        }
    }
}
