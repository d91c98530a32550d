using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Agent;
using Orchestrator.NodeAgent.Health;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Simulation;

/// <summary>
/// N simulated nodes in one process (<see cref="SimulatedNode"/>), registering with a real control
/// plane over the real node stream, for scale tests, the scheduler benchmark and
/// <c>orc dev --simulated-nodes</c>. They share one gRPC channel (HTTP/2 connections are opened as
/// streams need them) and one probe client; each has its own name (<c>sim-0001</c>, ...), loopback
/// address, resources, zone label and the label <c>orc.io/simulated=true</c>.
/// </summary>
public sealed class SimulatedFleet : IAsyncDisposable
{
    private readonly NodeApiChannels _channels;
    private readonly HttpClient _probeHttp;
    private readonly Dictionary<string, SimulatedNode> _byName;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _startedAt;

    private SimulatedFleet(IReadOnlyList<SimulatedNode> nodes, NodeApiChannels channels, HttpClient probeHttp, TimeProvider time)
    {
        Nodes = nodes;
        _byName = nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        _channels = channels;
        _probeHttp = probeHttp;
        _time = time;
        _startedAt = time.GetUtcNow();
    }

    public IReadOnlyList<SimulatedNode> Nodes { get; }

    /// <summary>
    /// Starts every node; they register in the background (see <see cref="WaitRegisteredAsync"/>).
    /// Throws <see cref="ArgumentException"/> listing every problem when the options are unusable.
    /// </summary>
    public static async Task<SimulatedFleet> StartAsync(SimulatedFleetOptions options, TimeProvider? time = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { Count: > 0 } problems)
        {
            throw new ArgumentException($"simulated nodes: {string.Join("; ", problems)}", nameof(options));
        }

        time ??= TimeProvider.System;
        loggerFactory ??= NullLoggerFactory.Instance;
        // The simulated nodes share the control plane's process (and its CPU) in orc dev and the
        // benchmark: a keep-alive ping answered late there is load, not a dead server, and one
        // missed ping would drop a hundred nodes' streams at once.
        var channels = new NodeApiChannels(keepAlivePingTimeout: TimeSpan.FromMinutes(1));
        var probeHttp = HttpProbeCheck.CreateSharedClient();
        var nodes = new List<SimulatedNode>(options.Nodes);
        for (var i = 1; i <= options.Nodes; i++)
        {
            var agentOptions = AgentOptions(options, i);
            nodes.Add(new SimulatedNode(agentOptions, Info(options, agentOptions, i), channels.Connect, probeHttp, time, loggerFactory));
        }

        var fleet = new SimulatedFleet(nodes, channels, probeHttp, time);
        try
        {
            foreach (var node in nodes)
            {
                await node.StartAsync(cancellationToken);
            }
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }

        return fleet;
    }

    /// <summary>The agent settings of node <paramref name="index"/> (from 1).</summary>
    public static NodeAgentOptions AgentOptions(SimulatedFleetOptions options, int index)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new NodeAgentOptions
        {
            Servers = options.Servers,
            NodeName = options.NodeName(index),
            Address = SimulatedFleetOptions.NodeAddress(index),
            CpuMillis = options.CpuMillis,
            MemoryBytes = options.MemoryBytes,
            FirstPort = options.FirstPort,
            LastPort = options.LastPort,
            Labels = Labels(options, index),
            HeartbeatInterval = options.HeartbeatInterval,
            Token = options.Token,
            StopAllOnShutdown = true,

            // A simulated node runs nothing, so it has nothing to route to: it never opens mesh listeners.
            Mesh = false,
        };
    }

    /// <summary>
    /// What node <paramref name="index"/> registers with. Allocatable is the whole capacity: there is
    /// no operating system or agent on a simulated node to hold anything back.
    /// </summary>
    public static NodeInfo Info(SimulatedFleetOptions options, NodeAgentOptions agentOptions, int index)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(agentOptions);
        var resources = new Resources { CpuMillis = options.CpuMillis, MemoryBytes = options.MemoryBytes };
        var info = new NodeInfo
        {
            Address = agentOptions.Address,
            Capacity = resources,
            Allocatable = resources.Clone(),
            Ports = new PortRange { First = options.FirstPort, Last = options.LastPort },
            AgentVersion = NodeInfoFactory.AgentVersion,
            Os = "simulated",
            MemoryEnforcement = "none (simulated)",
            Drivers = { Driver.Process, Driver.Docker },
        };
        info.Labels.Add(Labels(options, index));
        return info;
    }

    private static Dictionary<string, string> Labels(SimulatedFleetOptions options, int index)
    {
        var labels = new Dictionary<string, string>(options.Labels, StringComparer.Ordinal)
        {
            [SimulatedFleetOptions.SimulatedLabel] = "true",
        };
        if (options.Zones.Count > 0)
        {
            labels["zone"] = options.Zones[(index - 1) % options.Zones.Count];
        }

        return labels;
    }

    /// <summary>The node named <paramref name="name"/>; throws <see cref="KeyNotFoundException"/> naming the fleet's range when there is none.</summary>
    public SimulatedNode this[string name] => _byName.TryGetValue(name, out var node)
        ? node
        : throw new KeyNotFoundException($"no simulated node \"{name}\"; this fleet has {Nodes[0].Name} to {Nodes[^1].Name}");

    /// <summary>Waits until every node registered once; returns how long that took from the fleet's start.</summary>
    public async Task<TimeSpan> WaitRegisteredAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(Nodes.Select(n => n.Registered)).WaitAsync(cancellationToken);
        return _time.GetUtcNow() - _startedAt;
    }

    /// <summary>How many nodes registered so far.</summary>
    public int RegisteredCount => Nodes.Count(n => n.Registered.IsCompletedSuccessfully);

    /// <summary>Kills the node named <paramref name="name"/> (see <see cref="SimulatedNode.Kill"/>).</summary>
    public void Kill(string name) => this[name].Kill();

    /// <summary>Ends every node's stream and forgets every replica; the shared channel closes last.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Nodes.Select(n => n.DisposeAsync().AsTask()));
        _channels.Dispose();
        _probeHttp.Dispose();
    }
}
