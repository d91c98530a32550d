using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Agent;

/// <summary>
/// What the agent says about its node when it registers. Capacity is read from the machine
/// (cores x 1000 millicores, <c>MemTotal</c> from <c>/proc/meminfo</c>) unless <c>--cpu</c> or
/// <c>--memory</c> override it. Allocatable is capacity minus a reserve for the agent, the OS and
/// the shell of whoever logs in: 100m cpu and 256Mi memory, each at most a tenth of capacity
/// (so a tiny test node still offers most of what it has). Like Kubernetes' system-reserved, the
/// scheduler places against allocatable, never capacity.
/// </summary>
public static class NodeInfoFactory
{
    public const long CpuReserveMillis = 100;
    public const long MemoryReserveBytes = 256L << 20;

    public static NodeInfo Create(NodeAgentOptions options, IEnumerable<string> drivers, string memoryEnforcement, string? meminfo = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(drivers);
        var cpu = options.CpuMillis ?? Math.Max(1, System.Environment.ProcessorCount) * 1000L;
        var memory = options.MemoryBytes ?? ReadMemTotal(meminfo) ?? 0;
        var info = new NodeInfo
        {
            Address = options.Address,
            Capacity = new Resources { CpuMillis = cpu, MemoryBytes = memory },
            Allocatable = new Resources
            {
                CpuMillis = cpu - Math.Min(CpuReserveMillis, cpu / 10),
                MemoryBytes = memory - Math.Min(MemoryReserveBytes, memory / 10),
            },
            Ports = new PortRange { First = options.FirstPort, Last = options.LastPort },
            AgentVersion = AgentVersion,
            Os = $"{OsName()}/{RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}",
            MemoryEnforcement = memoryEnforcement,
        };
        foreach (var (key, value) in options.Labels)
        {
            info.Labels[key] = value;
        }

        foreach (var driver in drivers)
        {
            info.Drivers.Add(ToDriver(driver));
        }

        return info;
    }

    /// <summary>The agent's version (the assembly's informational version without build metadata).</summary>
    public static string AgentVersion { get; } =
        (typeof(NodeInfoFactory).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0")
            .Split('+')[0];

    public static Driver ToDriver(string name) => name switch
    {
        "docker" => Driver.Docker,
        "process" => Driver.Process,
        _ => throw new ArgumentException($"unknown driver {name}", nameof(name)),
    };

    public static string FromDriver(Driver driver) => driver switch
    {
        Driver.Docker => "docker",
        Driver.Process => "process",
        _ => "",
    };

    /// <summary>MemTotal in bytes from <c>/proc/meminfo</c> (or the given text), or null when unreadable.</summary>
    public static long? ReadMemTotal(string? meminfo = null)
    {
        try
        {
            meminfo ??= File.ReadAllText("/proc/meminfo");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        foreach (var line in meminfo.Split('\n'))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                continue;
            }

            var parts = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                return parts.Length >= 2 && parts[1] == "kB" ? kib * 1024 : kib;
            }
        }

        return null;
    }

    private static string OsName() =>
        OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "darwin" : OperatingSystem.IsWindows() ? "windows" : "unknown";
}
