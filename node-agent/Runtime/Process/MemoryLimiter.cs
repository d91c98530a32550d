using System.Globalization;

namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>How the process runtime holds a replica to its memory limit.</summary>
public enum MemoryEnforcement
{
    /// <summary>A cgroup v1 memory cgroup per replica, below the agent's own (<c>memory.limit_in_bytes</c>).</summary>
    CgroupV1,

    /// <summary>A cgroup v2 child of the agent's own cgroup (<c>memory.max</c>).</summary>
    CgroupV2,

    /// <summary>No usable cgroup: the runtime sums the RSS of the replica's session and kills it when over.</summary>
    RssWatch,
}

/// <summary>What <see cref="ProcessRuntimeOptions.MemoryEnforcement"/> asks for.</summary>
public enum MemoryEnforcementMode
{
    /// <summary>A cgroup when the agent may create one below its own, otherwise RSS watching.</summary>
    Auto,

    /// <summary>Always RSS watching (for machines where cgroups belong to someone else).</summary>
    RssWatch,
}

/// <summary>
/// Creates and reads per-replica memory cgroups, only ever below the agent's own cgroup (from
/// <c>/proc/self/cgroup</c>), never elsewhere in the tree.
/// </summary>
internal sealed class MemoryLimiter
{
    private const string CgroupRoot = "/sys/fs/cgroup";

    private MemoryLimiter(MemoryEnforcement enforcement, string? ownCgroup, string detail)
    {
        Enforcement = enforcement;
        OwnCgroup = ownCgroup;
        Detail = detail;
    }

    public MemoryEnforcement Enforcement { get; }

    /// <summary>The agent's own memory cgroup directory, under which replica cgroups are made.</summary>
    public string? OwnCgroup { get; }

    /// <summary>Why this enforcement was chosen, for the agent's log and <c>orc get nodes</c>.</summary>
    public string Detail { get; }

    /// <summary>The name <c>orc get nodes</c> shows: <c>cgroup-v1</c>, <c>cgroup-v2</c> or <c>rss-watch</c>.</summary>
    public static string DisplayName(MemoryEnforcement enforcement) => enforcement switch
    {
        MemoryEnforcement.CgroupV1 => "cgroup-v1",
        MemoryEnforcement.CgroupV2 => "cgroup-v2",
        _ => "rss-watch",
    };

    public static MemoryLimiter Detect(MemoryEnforcementMode mode)
    {
        if (mode == MemoryEnforcementMode.RssWatch)
        {
            return new MemoryLimiter(MemoryEnforcement.RssWatch, null, "RSS watching was asked for");
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/self/cgroup");
        }
        catch (IOException ex)
        {
            return new MemoryLimiter(MemoryEnforcement.RssWatch, null, $"cannot read /proc/self/cgroup ({ex.Message})");
        }

        var reasons = new List<string>();
        if (File.Exists(Path.Combine(CgroupRoot, "cgroup.controllers")))
        {
            var own = lines.Select(l => l.Split(':', 3)).FirstOrDefault(p => p.Length == 3 && p[0] == "0" && p[1].Length == 0)?[2];
            if (own is not null)
            {
                var dir = CgroupRoot + own.TrimEnd('/');
                var v2 = TryV2(dir, out var why);
                if (v2 is not null)
                {
                    return v2;
                }

                reasons.Add(why);
            }
        }

        foreach (var parts in lines.Select(l => l.Split(':', 3)))
        {
            if (parts.Length == 3 && parts[1].Split(',').Contains("memory"))
            {
                var dir = Path.Combine(CgroupRoot, "memory") + parts[2].TrimEnd('/');
                var v1 = TryV1(dir, out var why);
                if (v1 is not null)
                {
                    return v1;
                }

                reasons.Add(why);
            }
        }

        if (reasons.Count == 0)
        {
            reasons.Add("no memory cgroup controller is mounted");
        }

        return new MemoryLimiter(MemoryEnforcement.RssWatch, null, string.Join("; ", reasons));
    }

    private static MemoryLimiter? TryV1(string own, out string why)
    {
        var probe = Path.Combine(own, $"orc-probe-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(probe);
            File.WriteAllText(Path.Combine(probe, "memory.limit_in_bytes"), "1073741824");
            why = "";
            return new MemoryLimiter(MemoryEnforcement.CgroupV1, own, $"cgroup v1 memory cgroups below {own}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create a cgroup v1 memory cgroup below {own} ({ex.Message})";
            return null;
        }
        finally
        {
            TryRemoveDirectory(probe);
        }
    }

    private static MemoryLimiter? TryV2(string own, out string why)
    {
        var probe = Path.Combine(own, $"orc-probe-{Guid.NewGuid():N}");
        try
        {
            // A child only gets memory.max if the parent delegates the controller to its children;
            // the kernel refuses that while the parent itself holds processes (unless it is the root).
            var subtree = Path.Combine(own, "cgroup.subtree_control");
            if (!File.ReadAllText(subtree).Split(' ', StringSplitOptions.TrimEntries).Contains("memory"))
            {
                File.WriteAllText(subtree, "+memory");
            }

            Directory.CreateDirectory(probe);
            File.WriteAllText(Path.Combine(probe, "memory.max"), "1073741824");
            why = "";
            return new MemoryLimiter(MemoryEnforcement.CgroupV2, own, $"cgroup v2 children of {own}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create a cgroup v2 child with memory.max below {own} ({ex.Message})";
            return null;
        }
        finally
        {
            TryRemoveDirectory(probe);
        }
    }

    /// <summary>Creates the replica's cgroup with the limit set; returns its directory, or null under RSS watching.</summary>
    public string? Create(string replicaId, long memoryBytes)
    {
        if (OwnCgroup is null || memoryBytes <= 0)
        {
            return null;
        }

        var dir = Path.Combine(OwnCgroup, $"orc-{replicaId}");
        Directory.CreateDirectory(dir);
        var value = memoryBytes.ToString(CultureInfo.InvariantCulture);
        if (Enforcement == MemoryEnforcement.CgroupV1)
        {
            File.WriteAllText(Path.Combine(dir, "memory.limit_in_bytes"), value);

            // With swap accounting, memory+swap must be capped too or the replica swaps instead of being killed.
            var memsw = Path.Combine(dir, "memory.memsw.limit_in_bytes");
            if (File.Exists(memsw))
            {
                File.WriteAllText(memsw, value);
            }
        }
        else
        {
            File.WriteAllText(Path.Combine(dir, "memory.max"), value);
            var swap = Path.Combine(dir, "memory.swap.max");
            if (File.Exists(swap))
            {
                File.WriteAllText(swap, "0");
            }
        }

        return dir;
    }

    /// <summary>How many times the kernel's OOM killer acted inside the cgroup.</summary>
    public static long OomKills(string cgroupDir)
    {
        foreach (var file in new[] { "memory.events", "memory.oom_control" })
        {
            var path = Path.Combine(cgroupDir, file);
            try
            {
                foreach (var line in File.ReadLines(path))
                {
                    var parts = line.Split(' ', 2);
                    if (parts.Length == 2 && parts[0] == "oom_kill"
                        && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
                    {
                        return count;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Not this cgroup version's file, or the cgroup is gone.
            }
        }

        return 0;
    }

    /// <summary>Removes an empty cgroup; false when it still holds processes (or is gone).</summary>
    public static bool TryRemoveDirectory(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                // rmdir on a cgroup removes it with its control files; it fails while processes remain.
                Directory.Delete(dir, recursive: false);
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
