using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net.Sockets;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Commands;
using Orchestrator.Cli.Parsing;

namespace Orchestrator.Cli;

/// <summary>
/// The <c>orc</c> command line: parses, runs one command, and turns every failure into one
/// <c>error: ...</c> line and an exit code (0 ok, 1 the command failed, 2 the command line is wrong;
/// <c>orc plan</c> adds 3: some replica would not fit).
/// </summary>
public static class OrcApp
{
    public static async Task<int> RunAsync(
        string[] args,
        IConsoleIO io,
        Func<string, string?> environment,
        CancellationToken cancellationToken,
        TimeProvider? time = null)
    {
        var context = new CliContext(io, environment, time ?? TimeProvider.System);
        var root = BuildRootCommand(context);
        var parse = root.Parse(args);
        var invocation = new InvocationConfiguration
        {
            Output = io.Out,
            Error = io.Error,
            EnableDefaultExceptionHandler = false,
            // Ctrl-C arrives as cancellationToken (Program.cs); commands decide how to end.
            ProcessTerminationTimeout = null,
        };

        if (parse.Errors.Count > 0)
        {
            ReportParseErrors(io, root, parse, args);
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(invocation, cancellationToken);
        }
        catch (UsageException e)
        {
            await io.Error.WriteLineAsync($"error: {e.Message}");
            await io.Error.WriteLineAsync(e.Hint ?? $"Run '{CommandPath(parse.CommandResult)} --help' for usage.");
            return ExitCodes.Usage;
        }
        catch (CommandException e)
        {
            await io.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && IsCancellation(e))
        {
            // Interrupted by the user (Ctrl-C) outside a watch: the shell's convention for SIGINT.
            return 130;
        }
        catch (Exception e) when (e is RpcException or HttpRequestException or SocketException)
        {
            var server = SafeServer(context, parse);
            await io.Error.WriteLineAsync($"error: {RpcErrors.Describe(e, server, context.Timeout(parse))}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Anything else is a bug in orc: still one line for the user, the stack trace on request.
            await io.Error.WriteLineAsync($"error: {e.Message} ({e.GetType().Name}; this is a bug in orc, set ORC_DEBUG=1 to see where it happened)");
            if (environment("ORC_DEBUG") == "1")
            {
                await io.Error.WriteLineAsync(e.ToString());
            }

            return ExitCodes.Failure;
        }
    }

    internal static RootCommand BuildRootCommand(CliContext context)
    {
        var root = new RootCommand("orc: drive an Orchestrator cluster (apply and plan specs, inspect, explain placements, read logs, scale, roll out)");
        root.Add(context.ServerOption);
        root.Add(context.TimeoutOption);
        root.Add(ApplyCommand.Create(context));
        root.Add(PlanCommand.Create(context));
        root.Add(GetCommand.Create(context));
        root.Add(DescribeCommand.Create(context));
        root.Add(LogsCommand.Create(context));
        root.Add(EventsCommand.Create(context));
        root.Add(ExplainCommand.Create(context));
        root.Add(DeleteCommand.Create(context));
        root.Add(ScaleCommand.Create(context));
        root.Add(NodeCommand.Create(context));
        root.Add(RolloutCommand.Create(context));
        root.Add(VersionCommand.Create(context));
        root.Add(DevCommand.Create(context));
        root.SetAction(parse =>
        {
            // `orc` alone: show what it can do, as `orc --help` would.
            root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = context.IO.Out, Error = context.IO.Error });
            return ExitCodes.Success;
        });
        return root;
    }

    private static void ReportParseErrors(IConsoleIO io, RootCommand root, ParseResult parse, string[] args)
    {
        var commandResult = parse.CommandResult;
        var first = args.FirstOrDefault();
        if (commandResult.Command == root && first is not null && !first.StartsWith('-'))
        {
            var names = root.Subcommands.SelectMany(c => c.Aliases.Prepend(c.Name));
            var suggestion = Suggest.Closest(first, names);
            io.Error.WriteLine(suggestion is null
                ? $"error: unknown command \"{first}\""
                : $"error: unknown command \"{first}\"; did you mean \"{suggestion}\"?");
            io.Error.WriteLine($"Commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}. Run 'orc --help' for usage.");
            return;
        }

        foreach (var error in parse.Errors)
        {
            io.Error.WriteLine($"error: {Sentence(error.Message)}");
        }

        io.Error.WriteLine($"Run '{CommandPath(commandResult)} --help' for usage.");
    }

    private static string Sentence(string message) =>
        message.Length > 1 && char.IsUpper(message[0]) && !char.IsUpper(message[1])
            ? char.ToLowerInvariant(message[0]) + message[1..].TrimEnd('.')
            : message.TrimEnd('.');

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? current = result; current is not null; current = current.Parent)
        {
            if (current is CommandResult command)
            {
                names.Insert(0, command.Parent is null ? "orc" : command.Command.Name);
            }
        }

        return string.Join(' ', names);
    }

    private static bool IsCancellation(Exception e) =>
        e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled };

    private static Uri SafeServer(CliContext context, ParseResult parse)
    {
        try
        {
            return context.Server(parse);
        }
        catch (UsageException)
        {
            return new Uri(ServerAddress.Default);
        }
    }
}
