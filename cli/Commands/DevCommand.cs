using System.CommandLine;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Store;
using Orchestrator.Cli.Dev;
using Orchestrator.Cli.Output;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Simulation;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc dev</c>: a whole cluster in this process until Ctrl-C (see <see cref="DevCluster"/>): a
/// control plane with the embedded SQLite store under a data directory, and N node agents with
/// their own loopback addresses and port ranges. For trying things out and for labs.
/// </summary>
public static class DevCommand
{
    public const string DefaultDataDir = ".orc";

    public static Command Create(CliContext context)
    {
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Where the embedded store and the nodes' state live",
            DefaultValueFactory = _ => DefaultDataDir,
            HelpName = "dir",
        };
        var nodes = new Option<int>("--nodes")
        {
            Description = "How many node agents to run (node-1 on 127.0.0.2, node-2 on 127.0.0.3, ...)",
            DefaultValueFactory = _ => 3,
            HelpName = "n",
        };
        var simulatedNodes = new Option<int>("--simulated-nodes")
        {
            Description = "How many simulated nodes to run besides the real ones (sim-0001 on 127.1.0.1, ...): they register and heartbeat like real nodes and report every replica Ready at once, but run nothing",
            DefaultValueFactory = _ => 0,
            HelpName = "n",
        };
        var runtime = new Option<string>("--runtime")
        {
            Description = "auto (processes, and Docker when a daemon answers), docker or process",
            DefaultValueFactory = _ => "auto",
            HelpName = "auto|docker|process",
        };
        var listen = new Option<string>("--listen")
        {
            Description = "gRPC address (HTTP/2) the CLI talks to, host:port",
            DefaultValueFactory = _ => ControlPlaneOptions.DefaultListen,
            HelpName = "host:port",
        };
        var httpListen = new Option<string>("--http-listen")
        {
            Description = "HTTP/1.1 address for /healthz and /metrics, host:port",
            DefaultValueFactory = _ => ControlPlaneOptions.DefaultHttpListen,
            HelpName = "host:port",
        };
        var agentHttpPort = new Option<int>("--agent-http-port")
        {
            Description = "Port of each agent's /healthz on its own address (0 picks a free one)",
            DefaultValueFactory = _ => NodeAgentOptions.DefaultHttpPort,
            HelpName = "port",
        };
        var nodeGrace = new Option<string?>("--node-grace")
        {
            Description = "How long a node may stay silent before it is NotReady and its replicas Lost (default 3s; at least 2s)",
            HelpName = "duration",
        };
        var eventTtl = new Option<string?>("--event-ttl")
        {
            Description = "How long events are kept (default 1h; at least 1m)",
            HelpName = "duration",
        };
        var jobReplicaRetention = new Option<string?>("--job-replica-retention")
        {
            Description = "How long a job's ended replica and its logs are kept (default 1h; at least 1m)",
            HelpName = "duration",
        };
        var noMesh = new Option<bool>("--no-mesh")
        {
            Description = "Do not run the routing mesh: published ports are not opened on the nodes' addresses",
        };
        var drainTimeout = new Option<string?>("--drain-timeout")
        {
            Description = "How long a retiring replica waits for every node to stop routing to it before it is stopped anyway (default 5s)",
            HelpName = "duration",
        };
        var command = new Command("dev", "Run a whole cluster in this process (control plane, embedded store, node agents) until Ctrl-C")
        {
            dataDir, nodes, simulatedNodes, runtime, listen, httpListen, agentHttpPort, nodeGrace, eventTtl, jobReplicaRetention, drainTimeout, noMesh,
        };
        command.SetAction((parse, ct) => RunAsync(
            context,
            new DevClusterOptions
            {
                DataDir = parse.GetValue(dataDir) ?? DefaultDataDir,
                Nodes = parse.GetValue(nodes),
                SimulatedNodes = parse.GetValue(simulatedNodes),
                Runtime = ParseRuntime(parse.GetValue(runtime) ?? "auto"),
                Listen = parse.GetValue(listen) ?? ControlPlaneOptions.DefaultListen,
                HttpListen = parse.GetValue(httpListen) ?? ControlPlaneOptions.DefaultHttpListen,
                AgentHttpPort = parse.GetValue(agentHttpPort),
                NodeGrace = Duration("--node-grace", parse.GetValue(nodeGrace)),
                EventTtl = Duration("--event-ttl", parse.GetValue(eventTtl)) ?? TimeSpan.FromHours(1),
                JobReplicaRetention = Duration("--job-replica-retention", parse.GetValue(jobReplicaRetention)) ?? TimeSpan.FromHours(1),
                Mesh = !parse.GetValue(noMesh),
                DrainTimeout = Duration("--drain-timeout", parse.GetValue(drainTimeout)) ?? TimeSpan.FromSeconds(5),
            },
            ct));
        return command;
    }

    /// <summary>A duration flag's value by the control plane's own rules; null when the flag was not given.</summary>
    internal static TimeSpan? Duration(string flag, string? text)
    {
        if (text is null)
        {
            return null;
        }

        var (value, error) = ControlPlaneCommandLine.ParseDuration(flag, text);
        return error is null ? value : throw new UsageException(error, "Run 'orc dev --help' for usage.");
    }

    internal static RuntimeMode ParseRuntime(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => RuntimeMode.Auto,
        "docker" => RuntimeMode.Docker,
        "process" => RuntimeMode.Process,
        _ => throw new UsageException($"--runtime: \"{text}\" is not a runtime; use auto, docker or process", "Run 'orc dev --help' for usage."),
    };

    /// <summary>Says what the simulated nodes are and how long they took to be Ready; false when interrupted first.</summary>
    private static async Task<bool> ReportSimulatedAsync(IConsoleIO io, SimulatedFleet fleet, CancellationToken ct)
    {
        var first = fleet.Nodes[0];
        var last = fleet.Nodes[^1];
        var zones = string.Join("/", fleet.Nodes.Select(n => n.Info.Labels.GetValueOrDefault("zone", "")).Where(z => z.Length > 0).Distinct());
        await io.Out.WriteLineAsync(
            $"Simulated nodes: {fleet.Nodes.Count} ({first.Name} at {first.Address} to {last.Name} at {last.Address}; "
            + $"{Humanize.Cpu(first.Info.Allocatable.CpuMillis)} cpu, {Humanize.Memory(first.Info.Allocatable.MemoryBytes)} memory each"
            + (zones.Length > 0 ? $"; zones {zones}" : "")
            + $"; label {SimulatedFleetOptions.SimulatedLabel}=true). They run nothing: every replica placed on them is reported Ready at once.");
        await io.Out.FlushAsync(CancellationToken.None);
        try
        {
            var took = await fleet.WaitRegisteredAsync(ct);
            await io.Out.WriteLineAsync(FormattableString.Invariant($"All {fleet.Nodes.Count} simulated nodes Ready after {took.TotalSeconds:0.0}s"));
            return true;
        }
        catch (OperationCanceledException)
        {
            await io.Out.WriteLineAsync($"Interrupted with {fleet.RegisteredCount} of {fleet.Nodes.Count} simulated nodes Ready.");
            return false;
        }
    }

    private static async Task<int> RunAsync(CliContext context, DevClusterOptions options, CancellationToken ct)
    {
        var io = context.IO;
        if (options.AgentHttpPort is < 0 or > 65535)
        {
            throw new UsageException($"--agent-http-port: {options.AgentHttpPort} is not a port; give a number from 0 to 65535", "Run 'orc dev --help' for usage.");
        }

        if (options.Nodes is < 0 or > DevCluster.MaxNodes)
        {
            throw new UsageException($"--nodes: {options.Nodes} is out of range; give a number from 0 to {DevCluster.MaxNodes}", "Run 'orc dev --help' for usage.");
        }

        if (options.SimulatedNodes is < 0 or > SimulatedFleetOptions.MaxNodes)
        {
            throw new UsageException(
                $"--simulated-nodes: {options.SimulatedNodes} is out of range; give a number from 0 to {SimulatedFleetOptions.MaxNodes}",
                "Run 'orc dev --help' for usage.");
        }

        DevCluster cluster;
        try
        {
            cluster = await DevCluster.StartAsync(options, ct);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message, "Run 'orc dev --help' for usage.");
        }
        catch (Exception e) when (e is ArgumentException or StateStoreException)
        {
            throw new CommandException($"cannot open the store in {options.DataDir}: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw new CommandException(e.Message);
        }
        catch (IOException e)
        {
            throw new CommandException(
                $"cannot listen on {options.Listen}, {options.HttpListen} or an agent's address: {e.Message.TrimEnd('.')}. Is another cluster (orc dev) running? Stop it, or pick free ports with --listen, --http-listen and --agent-http-port.");
        }

        await using (cluster)
        {
            var server = cluster.GrpcUrl.ToString().TrimEnd('/');
            await io.Out.WriteLineAsync($"Control plane listening on {server} (gRPC) and {cluster.HttpUrl.ToString().TrimEnd('/')} (health, metrics)");
            await io.Out.WriteLineAsync($"Store: sqlite://{cluster.StorePath} (embedded SQLite; delete {options.DataDir} to start from an empty cluster)");
            if (cluster.Nodes.Count == 0 && cluster.Fleet is null)
            {
                await io.Out.WriteLineAsync("No nodes (--nodes 0): services and jobs are stored, but none of their replicas start.");
            }
            else if (cluster.Nodes.Count > 0)
            {
                await io.Out.WriteLineAsync($"Runtime: {cluster.RuntimeDescription}");
                foreach (var node in cluster.Nodes)
                {
                    await io.Out.WriteLineAsync($"Node {node.Name} at {node.Address}, ports {node.Options.FirstPort}-{node.Options.LastPort}");
                }

                await io.Out.WriteLineAsync(options.Mesh
                    ? "Routing mesh: every node answers each service's published ports on its own address (http://127.0.0.2:PUBLISHED/ reaches the service from node-1)"
                    : "Routing mesh: off (--no-mesh); published ports are not opened");
            }

            if (cluster.Fleet is { } fleet)
            {
                if (!await ReportSimulatedAsync(io, fleet, ct))
                {
                    await io.Out.WriteLineAsync("Stopping the nodes' replicas and the control plane...");
                    return ExitCodes.Success;
                }
            }

            var serverHint = server == Client.ServerAddress.Default ? "" : $" --server {server}";
            await io.Out.WriteLineAsync($"Try: orc apply -f examples/demo-process.yaml{serverHint}   then: orc get replicas{serverHint}");
            await io.Out.WriteLineAsync("Press Ctrl-C to stop (every replica started here is stopped).");
            await io.Out.FlushAsync(CancellationToken.None);

            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, context.Time, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: the normal way to stop.
            }

            await io.Out.WriteLineAsync("Stopping the nodes' replicas and the control plane...");
        }

        await io.Out.WriteLineAsync("Stopped.");
        return ExitCodes.Success;
    }
}
