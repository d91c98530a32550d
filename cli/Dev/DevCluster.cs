using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Runtime.Docker;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.NodeAgent.Supervisor;

namespace Orchestrator.Cli.Dev;

/// <summary>What <see cref="DevCluster"/> runs: a control plane on the embedded store and N node agents.</summary>
public sealed record DevClusterOptions
{
    /// <summary>Where the store (<c>state.db</c>) and each node's process-runtime state (<c>nodes/NAME</c>) live.</summary>
    public required string DataDir { get; init; }

    public string Listen { get; init; } = ControlPlaneOptions.DefaultListen;

    public string HttpListen { get; init; } = ControlPlaneOptions.DefaultHttpListen;

    public int Nodes { get; init; } = 3;

    /// <summary>Simulated nodes started besides the real ones (<see cref="SimulatedFleet"/>): they run nothing but report every replica Ready.</summary>
    public int SimulatedNodes { get; init; }

    /// <summary>Zone labels given to the simulated nodes round-robin.</summary>
    public IReadOnlyList<string> SimulatedZones { get; init; } = ["a", "b", "c"];

    public RuntimeMode Runtime { get; init; } = RuntimeMode.Auto;

    /// <summary>The control plane's node grace (<c>--node-grace</c>); null keeps its default (3 s).</summary>
    public TimeSpan? NodeGrace { get; init; }

    /// <summary>How long events are kept (<c>--event-ttl</c>).</summary>
    public TimeSpan EventTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a job's ended replica and its logs are kept (<c>--job-replica-retention</c>).</summary>
    public TimeSpan JobReplicaRetention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The bound on a retiring replica's wait for every node's endpoints ack (<c>--drain-timeout</c>).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Port of each agent's HTTP endpoint on its own address; 0 picks a free one (tests).</summary>
    public int AgentHttpPort { get; init; } = NodeAgentOptions.DefaultHttpPort;

    /// <summary>Node i (from 1) gets ports <c>FirstPort + (i-1) × PortsPerNode</c> onwards.</summary>
    public int FirstPort { get; init; } = NodeAgentOptions.DefaultFirstPort;

    public int PortsPerNode { get; init; } = 1000;

    /// <summary>
    /// Run each real node's routing mesh (on by default): every node listens on its own address at
    /// each service's published ports. Simulated nodes never run one.
    /// </summary>
    public bool Mesh { get; init; } = true;

    /// <summary>Restart back-off of every node's supervisor.</summary>
    public RestartBackoff RestartBackoff { get; init; } = new();

    /// <summary>Lowest level logged to the console.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    /// <summary>Last changes to the control plane's builder (tests: faster clocks, extra logging).</summary>
    public Action<WebApplicationBuilder>? ConfigureControlPlane { get; init; }

    /// <summary>Last changes to every node agent's builder (benchmarks: capturing the supervisor's log events).</summary>
    public Action<DevNode, WebApplicationBuilder>? ConfigureNode { get; init; }
}

/// <summary>One node of a <see cref="DevCluster"/>.</summary>
public sealed class DevNode
{
    internal DevNode(NodeAgentOptions options) => Options = options;

    public NodeAgentOptions Options { get; }

    public string Name => Options.NodeName;

    public string Address => Options.Address;

    internal WebApplication? App { get; set; }

    /// <summary>The node's supervisor while its agent runs.</summary>
    public ReplicaSupervisor? Supervisor => App?.Services.GetService<ReplicaSupervisor>();

    public bool Running => App is not null;

    /// <summary>The agent's HTTP endpoint (<c>/healthz</c>, <c>/endpoints</c>) while it runs.</summary>
    public Uri? HttpUrl => App?.HttpUrl();
}

/// <summary>
/// A whole cluster in one process, as <c>orc dev</c> runs it and end-to-end tests drive it: the
/// control plane on SQLite under the data directory, and N node agents, node-i on 127.0.0.(i+1)
/// with its own port range, so every node can bind a service's published port without clashing.
/// Stopping it stops and removes every replica its agents started.
/// </summary>
public sealed class DevCluster : IAsyncDisposable
{
    private readonly DevClusterOptions _options;
    private readonly string? _dockerVersion;
    private ILoggerFactory? _fleetLogs;

    /// <summary>The most real node agents <c>orc dev</c> runs (each has its own loopback address and port range).</summary>
    public const int MaxNodes = 200;

    private DevCluster(DevClusterOptions options, WebApplication controlPlane, string? dockerVersion, IReadOnlyList<DevNode> nodes)
    {
        _options = options;
        ControlPlane = controlPlane;
        _dockerVersion = dockerVersion;
        Nodes = nodes;
        var endpoints = controlPlane.Endpoints();
        GrpcUrl = endpoints.GrpcUrl;
        HttpUrl = endpoints.HttpUrl;
        RuntimeDescription = RuntimeSelection.Describe(options.Runtime, DockerRuntimeOptions.DefaultEndpoint(), dockerVersion);
    }

    public WebApplication ControlPlane { get; }

    public Uri GrpcUrl { get; }

    public Uri HttpUrl { get; }

    public IReadOnlyList<DevNode> Nodes { get; }

    /// <summary>The simulated nodes, when <see cref="DevClusterOptions.SimulatedNodes"/> asked for some.</summary>
    public SimulatedFleet? Fleet { get; private set; }

    /// <summary>Which runtimes the nodes offer and why: <c>process (no Docker daemon answered at ...)</c>.</summary>
    public string RuntimeDescription { get; }

    public string StorePath => Path.Combine(_options.DataDir, "state.db");

    /// <summary>
    /// Starts the control plane, then every agent. Throws <see cref="FormatException"/> for a bad
    /// listen address, <see cref="InvalidOperationException"/> when the runtime asked for cannot
    /// run here, <see cref="IOException"/> when a port is taken.
    /// </summary>
    public static async Task<DevCluster> StartAsync(DevClusterOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Nodes is < 0 or > MaxNodes)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Nodes, $"--nodes: give a number from 0 to {MaxNodes}");
        }

        if (options.SimulatedNodes is < 0 or > SimulatedFleetOptions.MaxNodes)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.SimulatedNodes, $"--simulated-nodes: give a number from 0 to {SimulatedFleetOptions.MaxNodes}");
        }

        var dockerVersion = options.Runtime == RuntimeMode.Process
            ? null
            : await RuntimeSelection.DockerVersionAsync(DockerRuntimeOptions.DefaultEndpoint(), cancellationToken);
        RuntimeSelection.EnsureRunnable(options.Runtime, dockerVersion);

        var controlPlane = await ControlPlaneApp.BuildAsync(
            new ControlPlaneOptions
            {
                Listen = options.Listen,
                HttpListen = options.HttpListen,
                Store = $"sqlite://{Path.Combine(options.DataDir, "state.db")}",
                MemberId = "dev",
                NodeGrace = options.NodeGrace,
                EventTtl = options.EventTtl,
                JobReplicaRetention = options.JobReplicaRetention,
                DrainTimeout = options.DrainTimeout,
            },
            configure: b =>
            {
                b.Logging.SetMinimumLevel(options.LogLevel)
                    // A failed start (port in use) is reported in one line by the caller, not as a logged stack trace.
                    .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
                options.ConfigureControlPlane?.Invoke(b);
            },
            cancellationToken: cancellationToken);
        try
        {
            await controlPlane.StartAsync(cancellationToken);
        }
        catch
        {
            await controlPlane.DisposeAsync();
            throw;
        }

        var server = controlPlane.Endpoints().GrpcUrl;
        var scope = RuntimeScope(options.DataDir);
        var nodes = new List<DevNode>();
        for (var i = 1; i <= options.Nodes; i++)
        {
            var address = string.Create(CultureInfo.InvariantCulture, $"127.0.0.{i + 1}");
            var first = options.FirstPort + ((i - 1) * options.PortsPerNode);
            nodes.Add(new DevNode(new NodeAgentOptions
            {
                Servers = [server],
                NodeName = string.Create(CultureInfo.InvariantCulture, $"node-{i}"),
                Address = address,
                Runtime = options.Runtime,
                FirstPort = first,
                LastPort = first + options.PortsPerNode - 1,
                RuntimeScope = scope,
                StateDirectory = Path.GetFullPath(Path.Combine(options.DataDir, "nodes", string.Create(CultureInfo.InvariantCulture, $"node-{i}"))),
                HttpListen = string.Create(CultureInfo.InvariantCulture, $"{address}:{options.AgentHttpPort}"),
                StopAllOnShutdown = true,
                Mesh = options.Mesh,
                RestartBackoff = options.RestartBackoff,
                Labels = new Dictionary<string, string> { ["dev"] = "true" },
            }));
        }

        var cluster = new DevCluster(options, controlPlane, dockerVersion, nodes);
        try
        {
            foreach (var node in nodes)
            {
                await cluster.StartNodeAsync(node, cancellationToken);
            }

            if (options.SimulatedNodes > 0)
            {
                cluster._fleetLogs = LoggerFactory.Create(b => b
                    .AddSimpleConsole(o =>
                    {
                        o.SingleLine = true;
                        o.TimestampFormat = "HH:mm:ss ";
                    })
                    .SetMinimumLevel(options.LogLevel));
                cluster.Fleet = await SimulatedFleet.StartAsync(
                    new SimulatedFleetOptions { Nodes = options.SimulatedNodes, Servers = [server], Zones = options.SimulatedZones },
                    loggerFactory: cluster._fleetLogs,
                    cancellationToken: cancellationToken);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>
    /// Every dev cluster names its nodes node-1, node-2, ...; on a shared Docker daemon the node
    /// label alone would let one cluster adopt, stop and remove another's containers. The scope is
    /// derived from the data directory, so a dev cluster started again on the same directory still
    /// re-adopts (and cleans up) what an earlier run left behind.
    /// </summary>
    internal static string RuntimeScope(string dataDir)
    {
        var path = Path.GetFullPath(dataDir).TrimEnd(Path.DirectorySeparatorChar);
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(path));
        return "dev-" + Convert.ToHexStringLower(hash)[..12];
    }

    /// <summary>Starts the agent of <paramref name="node"/> (again, after <see cref="StopNodeAsync"/>); it re-adopts what its node still runs.</summary>
    public async Task StartNodeAsync(DevNode node, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.App is not null)
        {
            return;
        }

        Directory.CreateDirectory(node.Options.StateDirectory);
        var app = NodeAgentApp.Build(node.Options, _dockerVersion, b =>
        {
            b.Logging.SetMinimumLevel(_options.LogLevel);
            _options.ConfigureNode?.Invoke(node, b);
        });
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        node.App = app;
    }

    /// <summary>
    /// Stops the agent of <paramref name="node"/>. With <paramref name="keepReplicas"/> its replicas
    /// keep running, as when an agent crashes or is upgraded; otherwise they are stopped and removed.
    /// </summary>
    public async Task StopNodeAsync(DevNode node, bool keepReplicas, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (!Nodes.Contains(node))
        {
            throw new ArgumentException($"{node.Name} is not a node of this cluster", nameof(node));
        }

        if (node.App is not { } app)
        {
            return;
        }

        if (keepReplicas)
        {
            node.Supervisor?.KeepReplicasOnShutdown();
        }

        try
        {
            await app.StopAsync(cancellationToken);
        }
        finally
        {
            await app.DisposeAsync();
            node.App = null;
        }
    }

    /// <summary>Stops the simulated nodes and every agent (each stops and removes its replicas), then the control plane.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Fleet is not null)
        {
            await Fleet.DisposeAsync();
        }

        _fleetLogs?.Dispose();

        await Task.WhenAll(Nodes.Select(n => StopNodeAsync(n, keepReplicas: false, CancellationToken.None)));
        await ControlPlane.StopAsync(CancellationToken.None);
        await ControlPlane.DisposeAsync();
    }
}
