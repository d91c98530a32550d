using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc dev</c>: a control plane in this process with the embedded SQLite store under a data
/// directory, until Ctrl-C. The whole cluster on one laptop, for trying things out and for labs.
/// </summary>
public static class DevCommand
{
    public const string DefaultDataDir = ".orc";

    public static Command Create(CliContext context)
    {
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Where the embedded store keeps the cluster's state",
            DefaultValueFactory = _ => DefaultDataDir,
            HelpName = "dir",
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
        var command = new Command("dev", "Run a control plane in this process with an embedded store, until Ctrl-C") { dataDir, listen, httpListen };
        command.SetAction((parse, ct) => RunAsync(
            context,
            parse.GetValue(dataDir) ?? DefaultDataDir,
            parse.GetValue(listen) ?? ControlPlaneOptions.DefaultListen,
            parse.GetValue(httpListen) ?? ControlPlaneOptions.DefaultHttpListen,
            ct));
        return command;
    }

    private static async Task<int> RunAsync(CliContext context, string dataDir, string listen, string httpListen, CancellationToken ct)
    {
        var io = context.IO;
        var storePath = Path.Combine(dataDir, "state.db");
        var options = new ControlPlaneOptions
        {
            Listen = listen,
            HttpListen = httpListen,
            Store = $"sqlite://{storePath}",
            MemberId = "dev",
        };

        WebApplication app;
        try
        {
            // The dev console shows our summary and warnings, not every request.
            app = await ControlPlaneApp.BuildAsync(
                options,
                configure: b => b.Logging
                    .SetMinimumLevel(LogLevel.Warning)
                    // A failed start (port in use) is reported below in one line, not as a logged stack trace.
                    .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None),
                cancellationToken: ct);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message, "Run 'orc dev --help' for usage.");
        }
        catch (Exception e) when (e is ArgumentException or StateStoreException)
        {
            throw new CommandException($"cannot open the store in {dataDir}: {e.Message}");
        }

        await using (app)
        {
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException e)
            {
                throw new CommandException(
                    $"cannot listen on {listen} or {httpListen}: {e.Message.TrimEnd('.')}. Is another control plane (orc dev) running? Stop it, or pick free ports with --listen and --http-listen.");
            }

            var endpoints = app.Endpoints();
            var server = endpoints.GrpcUrl.ToString().TrimEnd('/');
            await io.Out.WriteLineAsync($"Control plane listening on {server} (gRPC) and {endpoints.HttpUrl.ToString().TrimEnd('/')} (health, metrics)");
            await io.Out.WriteLineAsync($"Store: sqlite://{storePath} (embedded SQLite; delete {dataDir} to start from an empty cluster)");
            await io.Out.WriteLineAsync("No node agents run in orc dev yet: services and jobs are stored and can be listed, described and scaled, but none of their replicas start.");
            var serverHint = server == Client.ServerAddress.Default ? "" : $" --server {server}";
            await io.Out.WriteLineAsync($"Try: orc apply -f examples/web.yaml{serverHint}   then: orc get services{serverHint}");
            await io.Out.WriteLineAsync("Press Ctrl-C to stop.");
            await io.Out.FlushAsync(CancellationToken.None);

            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, context.Time, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: the normal way to stop.
            }

            await io.Out.WriteLineAsync("Stopping the control plane...");
            await app.StopAsync(CancellationToken.None);
            await io.Out.WriteLineAsync("Stopped.");
        }

        return ExitCodes.Success;
    }
}
