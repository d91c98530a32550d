using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc logs REPLICA | service/NAME | job/NAME [-f] [--tail N]</c>: a replica's output, or the
/// output of all replicas of a service or job with each line prefixed by its replica id. The
/// control plane reads it from the agents of the nodes that run the replicas.
/// </summary>
public static class LogsCommand
{
    private static readonly KindInfo[] Targets = [ObjectKinds.Replica, ObjectKinds.Service, ObjectKinds.Job];

    public static Command Create(CliContext context)
    {
        var target = new Argument<string>("target")
        {
            Description = "A replica id (web-7f3k2), or service/NAME or job/NAME for all of its replicas (also: service NAME)",
        };
        var name = new Argument<string?>("name")
        {
            Description = "Name, when the target is written as a kind: orc logs service web",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until Ctrl-C" };
        var tail = new Option<int?>("--tail")
        {
            Description = "Only the last N lines of each replica's output so far [default: all]",
            HelpName = "N",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    result.AddError($"--tail \"{text}\" is not a whole number of lines (1 or more)");
                    return null;
                }

                if (n == 0)
                {
                    // The API reads tail 0 as "everything", so passing it on would print the whole
                    // log to someone who asked for none of it.
                    result.AddError("--tail 0 is not supported: the control plane cannot start at the end of a log yet; give 1 or more lines, or leave --tail out for all of them");
                    return null;
                }

                return n;
            },
        };
        var command = new Command("logs", "Print the output of a replica, or of all replicas of a service or job")
        {
            target, name, follow, tail,
        };
        command.SetAction((parse, ct) =>
        {
            var resolved = Resolve(parse.GetValue(target)!, parse.GetValue(name));
            var request = new LogsRequest { Target = resolved.Wire, Follow = parse.GetValue(follow), TailLines = parse.GetValue(tail) ?? 0 };
            return StreamAsync(context, parse, resolved, request, ct);
        });
        return command;
    }

    /// <summary>
    /// What the user asked for and how the API names it: a replica id as is, a service or job as
    /// <c>service/NAME</c> or <c>job/NAME</c> (whatever spelling of the kind was used).
    /// </summary>
    public sealed record LogsTarget(ObjectTarget Target, string Wire)
    {
        public bool IsReplica => Target.Kind == ObjectKinds.Replica;
    }

    /// <summary>
    /// Reads <c>REPLICA</c>, <c>KIND/NAME</c> or <c>KIND NAME</c> with KIND a replica, service or job
    /// (any of their spellings). A lone word is a replica id, unless it is a kind without its name.
    /// </summary>
    public static LogsTarget Resolve(string first, string? name)
    {
        ObjectTarget target;
        if (name is null && !first.Contains('/', StringComparison.Ordinal) && !first.StartsWith('-'))
        {
            if (ObjectKinds.TryParse(first, out var kind))
            {
                throw new UsageException(
                    $"logs needs a name after \"{first}\"",
                    kind == ObjectKinds.Service || kind == ObjectKinds.Job
                        ? $"Write \"orc logs {kind.Singular}/NAME\" or \"orc logs {kind.Singular} NAME\"; 'orc get {kind.Plural}' lists them."
                        : "Write \"orc logs REPLICA\", \"orc logs service/NAME\" or \"orc logs job/NAME\"; 'orc get replicas' lists the replicas.");
            }

            target = new ObjectTarget(ObjectKinds.Replica, first);
        }
        else if (name is not null && !first.Contains('/', StringComparison.Ordinal) && !ObjectKinds.TryParse(first, out _)
            && Suggest.Closest(first, ObjectKinds.All.SelectMany(k => k.Names)) is null)
        {
            // "orc logs web-7f3k2 extra": not a misspelt kind, so the first word was a replica id.
            throw new UsageException(
                $"logs takes one replica id, or a kind and a name; \"{name}\" after \"{first}\" is one word too many",
                "Write \"orc logs REPLICA\", \"orc logs service/NAME\" or \"orc logs job/NAME\".");
        }
        else
        {
            target = ObjectTarget.ParseNamed(first, name, "logs", Targets);
        }

        return new LogsTarget(target, target.Kind == ObjectKinds.Replica ? target.Name! : $"{target.Kind.Singular}/{target.Name}");
    }

    private static async Task<int> StreamAsync(CliContext context, ParseResult parse, LogsTarget target, LogsRequest request, CancellationToken ct)
    {
        using var connection = context.Connect(parse);
        var writer = new LogWriter(context.IO, prefix: !target.IsReplica, colour: LogWriter.UseColour(context.IO, context.Environment));

        // Logs have no deadline, like watches: a long log takes as long as it takes, and an
        // unreachable server still fails fast on the connection's own timeout.
        using var call = connection.Client.Logs(request, ClusterConnection.Streaming(ct));
        var received = false;
        try
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                received = true;
                await writer.WriteAsync(call.ResponseStream.Current, ct);
            }
        }
        catch (Exception e) when (request.Follow && ct.IsCancellationRequested && (e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled }))
        {
            // Ctrl-C is how `logs -f` ends.
            await writer.CompleteAsync(CancellationToken.None);
            return ExitCodes.Success;
        }
        catch (RpcException e)
        {
            await writer.CompleteAsync(CancellationToken.None);
            if (Explain(e, target, connection.Server, received) is { } failure)
            {
                throw failure;
            }

            throw;
        }

        await writer.CompleteAsync(ct);
        return ExitCodes.Success;
    }

    /// <summary>A failed logs call as a message for people; null for what is not particular to logs (<see cref="OrcApp"/> and <see cref="RpcErrors"/> say those).</summary>
    private static CommandException? Explain(RpcException e, LogsTarget target, Uri server, bool received)
    {
        switch (e.StatusCode)
        {
            case StatusCode.NotFound when target.IsReplica:
                return new CommandException(
                    $"replica \"{target.Target.Name}\" not found; list replicas with 'orc get replicas' " +
                    $"(for all replicas of a service: 'orc logs service/{target.Target.Name}')");
            case StatusCode.NotFound:
                return new CommandException(
                    $"{target.Target} has no replicas; check the name with 'orc get {target.Target.Kind.Plural}', or list replicas with 'orc get replicas'");

            // The control plane answered (no transport error underneath): a node is not connected,
            // or went away while its replica's log was being read. The detail names the node.
            case StatusCode.Unavailable when e.Status.DebugException is null && !string.IsNullOrWhiteSpace(e.Status.Detail):
            case StatusCode.FailedPrecondition when !string.IsNullOrWhiteSpace(e.Status.Detail):
                // One replica's problem per line, each an error of its own.
                return new CommandException(string.Join("\nerror: ", e.Status.Detail.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            case StatusCode.Unavailable when received:
                return new CommandException(
                    $"lost the logs stream from the control plane at {ServerAddress.Display(server)} ({RpcErrors.Cause(e)}); run the command again to resume");
            default:
                return null;
        }
    }
}
