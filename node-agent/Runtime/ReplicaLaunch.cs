using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Runtime;

/// <summary>
/// Everything a runtime needs to start one replica, independent of the driver. Built by the
/// supervisor from a <see cref="ReplicaSpec"/> (see <see cref="FromSpec"/>); the runtime adds the
/// standard environment (<see cref="ReplicaEnvironment"/>).
/// </summary>
public sealed record ReplicaLaunch
{
    /// <summary>The replica id (unique in the cluster); also the runtime's key for it.</summary>
    public required string ReplicaId { get; init; }

    /// <summary><c>service</c> or <c>job</c>.</summary>
    public required string OwnerKind { get; init; }

    public required string OwnerName { get; init; }

    public long Revision { get; init; }

    /// <summary>Fencing token of the assignment this launch acts on (ADR 0006).</summary>
    public long Generation { get; init; }

    public required string NodeName { get; init; }

    /// <summary>Address host ports are bound on (the node's address, 127.0.0.x in tests).</summary>
    public string NodeAddress { get; init; } = "127.0.0.1";

    /// <summary>Container image (docker); ignored by the process runtime.</summary>
    public string Image { get; init; } = "";

    /// <summary>Process: the program and its leading arguments. Docker: overrides the image's entrypoint when set.</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>Arguments after <see cref="Command"/> (docker: the CMD when no command is set).</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>The template's environment; the standard variables are added by the runtime and win.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Discovery variables of the services the node knew when this launch was built
    /// (<c>&lt;NAME&gt;_SERVICE_HOST</c>, <c>&lt;NAME&gt;_SERVICE_PORT</c>, ...); the template's
    /// environment and the standard variables win over them.
    /// </summary>
    public IReadOnlyDictionary<string, string> ServiceEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>CPU limit in millicores; 0 means none.</summary>
    public long CpuMillis { get; init; }

    /// <summary>Memory limit in bytes; 0 means none.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>Declared ports, in template order (the first one is <c>PORT</c>).</summary>
    public IReadOnlyList<ReplicaPort> Ports { get; init; } = [];

    /// <summary>Docker only: run in the host's network namespace instead of mapping ports.</summary>
    public bool HostNetwork { get; init; }

    /// <summary>Default grace between SIGTERM and SIGKILL, from the template's <c>stopGracePeriod</c>.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Builds a launch from a scheduled replica's spec.</summary>
    public static ReplicaLaunch FromSpec(string replicaId, ReplicaSpec spec, string nodeAddress)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var template = spec.Template ?? new ReplicaTemplate();
        var ports = new List<ReplicaPort>();
        foreach (var port in template.Ports)
        {
            if (!spec.HostPorts.TryGetValue(port.Name, out var hostPort))
            {
                throw new ArgumentException(
                    $"replica {replicaId}: port \"{port.Name}\" has no host port; the scheduler allocates one per declared port at binding",
                    nameof(spec));
            }

            ports.Add(new ReplicaPort(port.Name, port.Port, hostPort));
        }

        return new ReplicaLaunch
        {
            ReplicaId = replicaId,
            OwnerKind = spec.Owner?.Kind ?? "",
            OwnerName = spec.Owner?.Name ?? "",
            Revision = spec.Revision,
            Generation = spec.Generation,
            NodeName = spec.Node,
            NodeAddress = nodeAddress,
            Image = template.Image,
            Command = [.. template.Command],
            Args = [.. template.Args],
            Environment = new Dictionary<string, string>(template.Env),
            CpuMillis = template.Resources?.CpuMillis ?? 0,
            MemoryBytes = template.Resources?.MemoryBytes ?? 0,
            Ports = ports,
            StopGrace = template.StopGracePeriod is { } grace ? grace.ToTimeSpan() : TimeSpan.FromSeconds(10),
        };
    }
}

/// <summary>One declared port: its name, the port inside a container, and the host port allocated on the node.</summary>
public sealed record ReplicaPort(string Name, int ContainerPort, int HostPort);
