namespace Orchestrator.NodeAgent.Hosting;

/// <summary>Which runtimes an agent offers (<c>--runtime</c>).</summary>
public enum RuntimeMode
{
    /// <summary>Processes always, Docker too when a daemon answers.</summary>
    Auto,

    /// <summary>Docker only; the agent refuses to start without a daemon.</summary>
    Docker,

    /// <summary>Host processes only.</summary>
    Process,
}

/// <summary>Settings of one node agent (<c>orc-agent</c>, or one node of <c>orc dev</c>).</summary>
public sealed record NodeAgentOptions
{
    public const string DefaultServer = "http://127.0.0.1:7070";
    public const string DefaultAddress = "127.0.0.1";
    public const int DefaultHttpPort = 7072;
    public const int DefaultFirstPort = 20000;
    public const int DefaultLastPort = 20999;

    /// <summary>Control planes to connect to, tried in turn (the next one after a failure).</summary>
    public IReadOnlyList<Uri> Servers { get; init; } = [new Uri(DefaultServer)];

    /// <summary>The node's name (default: the host name, lower-cased).</summary>
    public string NodeName { get; init; } = DefaultNodeName();

    /// <summary>The address other nodes and clients use to reach this node's replicas.</summary>
    public string Address { get; init; } = DefaultAddress;

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public RuntimeMode Runtime { get; init; } = RuntimeMode.Auto;

    /// <summary>CPU capacity in millicores; null reads it from the machine (cores x 1000).</summary>
    public long? CpuMillis { get; init; }

    /// <summary>Memory capacity in bytes; null reads MemTotal from <c>/proc/meminfo</c>.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>Host ports handed to replicas of this node, inclusive.</summary>
    public int FirstPort { get; init; } = DefaultFirstPort;

    public int LastPort { get; init; } = DefaultLastPort;

    /// <summary>
    /// Labels this agent's Docker containers <c>orc.scope=&lt;scope&gt;</c> and makes it see only those:
    /// set when node names are not unique on the daemon (<c>orc dev</c> clusters all have a node-1).
    /// Null (<c>orc-agent</c>): containers are told apart by node name alone.
    /// </summary>
    public string? RuntimeScope { get; init; }

    /// <summary>Where the process runtime keeps replica records, exit files and logs.</summary>
    public string StateDirectory { get; init; } = DefaultStateDirectory();

    /// <summary>HTTP/1.1 endpoint for <c>/healthz</c>, host:port; null means the node's address, port 7072.</summary>
    public string? HttpListen { get; init; }

    /// <summary>
    /// Run the routing mesh: listen on every service's published ports at <see cref="Address"/> and
    /// forward to the service's ready replicas (<c>--no-mesh</c> turns it off).
    /// </summary>
    public bool Mesh { get; init; } = true;

    /// <summary>Join token sent with the registration (empty when the cluster needs none).</summary>
    public string Token { get; init; } = "";

    /// <summary>
    /// Stop every replica when the agent stops. Off for <c>orc-agent</c> (replicas outlive an agent
    /// restart and are re-adopted), on for <c>orc dev</c> (Ctrl-C leaves nothing behind).
    /// </summary>
    public bool StopAllOnShutdown { get; init; }

    /// <summary>Delays between restarts of a replica that keeps ending (see <see cref="Supervisor.RestartBackoff"/>).</summary>
    public Supervisor.RestartBackoff RestartBackoff { get; init; } = new();

    /// <summary>Heartbeat interval until the control plane says otherwise in <c>Registered</c>.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>First reconnect delay; it doubles per failed attempt (with jitter) up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The HTTP endpoint actually used: <see cref="HttpListen"/>, else the address on port 7072.</summary>
    public string EffectiveHttpListen => HttpListen ?? $"{Address}:{DefaultHttpPort}";

    public static string DefaultNodeName()
    {
        var name = System.Environment.MachineName.ToLowerInvariant();
        return string.IsNullOrEmpty(name) ? "node" : name;
    }

    public static string DefaultStateDirectory() =>
        System.Environment.UserName == "root"
            ? "/var/lib/orc-agent"
            : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.LocalApplicationData), "orc-agent");
}
