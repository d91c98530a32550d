using System.CommandLine;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Store;
using Orchestrator.Cli.Dev;
using Orchestrator.NodeAgent.Hosting;

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
        var command = new Command("dev", "Run a whole cluster in this process (control plane, embedded store, node agents) until Ctrl-C")
        {
            dataDir, nodes, runtime, listen, httpListen, agentHttpPort,
        };
        command.SetAction((parse, ct) => RunAsync(
            context,
            new DevClusterOptions
            {
                DataDir = parse.GetValue(dataDir) ?? DefaultDataDir,
                Nodes = parse.GetValue(nodes),
                Runtime = ParseRuntime(parse.GetValue(runtime) ?? "auto"),
                Listen = parse.GetValue(listen) ?? ControlPlaneOptions.DefaultListen,
                HttpListen = parse.GetValue(httpListen) ?? ControlPlaneOptions.DefaultHttpListen,
                AgentHttpPort = parse.GetValue(agentHttpPort),
            },
            ct));
        return command;
    }

    internal static RuntimeMode ParseRuntime(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => RuntimeMode.Auto,
        "docker" => RuntimeMode.Docker,
        "process" => RuntimeMode.Process,
        _ => throw new UsageException($"--runtime: \"{text}\" is not a runtime; use auto, docker or process", "Run 'orc dev --help' for usage."),
    };

    private static async Task<int> RunAsync(CliContext context, DevClusterOptions options, CancellationToken ct)
    {
        var io = context.IO;
        if (options.AgentHttpPort is < 0 or > 65535)
        {
            throw new UsageException($"--agent-http-port: {options.AgentHttpPort} is not a port; give a number from 0 to 65535", "Run 'orc dev --help' for usage.");
        }

        if (options.Nodes is < 0 or > 200)
        {
            throw new UsageException($"--nodes: {options.Nodes} is out of range; give a number from 0 to 200", "Run 'orc dev --help' for usage.");
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
            if (cluster.Nodes.Count == 0)
            {
                await io.Out.WriteLineAsync("No nodes (--nodes 0): services and jobs are stored, but none of their replicas start.");
            }
            else
            {
                await io.Out.WriteLineAsync($"Runtime: {cluster.RuntimeDescription}");
                foreach (var node in cluster.Nodes)
                {
                    await io.Out.WriteLineAsync($"Node {node.Name} at {node.Address}, ports {node.Options.FirstPort}-{node.Options.LastPort}");
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
