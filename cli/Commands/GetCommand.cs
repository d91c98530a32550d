using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc get KIND [NAME] [-o table|json|yaml] [-w]</c>: one object or a list, once or as it changes.</summary>
public static class GetCommand
{
    public static Command Create(CliContext context)
    {
        var args = new CommandArguments();
        var output = new Option<string>("--output", "-o")
        {
            Description = "Output format: table, json or yaml",
            DefaultValueFactory = _ => "table",
            HelpName = "format",
        };
        output.Validators.Add(result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "table";
            if (text is not ("table" or "json" or "yaml"))
            {
                result.AddError($"-o \"{text}\" is not an output format; use table, json or yaml");
            }
        });
        var watch = new Option<bool>("--watch", "-w") { Description = "Keep printing changes until Ctrl-C (a row, or one JSON object per line)" };
        var owner = new Option<string?>("--owner")
        {
            Description = "Only replicas or events of this owner (service/web, job/report)",
            HelpName = "kind/name",
        };
        var command = new Command("get", "Show one object or a list of objects") { output, watch, owner };
        args.AddTo(command);
        command.SetAction((parse, ct) =>
        {
            var target = ObjectTarget.Parse(parse.GetValue(args.Kind)!, parse.GetValue(args.Name));
            var format = parse.GetValue(output) ?? "table";
            var ownerText = parse.GetValue(owner);
            if (ownerText is not null && target.Kind != ObjectKinds.Replica && target.Kind != ObjectKinds.Event)
            {
                throw new UsageException("--owner applies to replicas and events only", "Try \"orc get replicas --owner service/web\".");
            }

            var ownerRef = ownerText is null ? "" : OwnerRef(ownerText);
            return parse.GetValue(watch)
                ? WatchAsync(context, parse, target, format, ownerRef, ct)
                : GetAsync(context, parse, target, format, ownerRef, ct);
        });
        return command;
    }

    private static string OwnerRef(string text)
    {
        var target = ObjectTarget.ParseNamed(text, null, "get --owner", [ObjectKinds.Service, ObjectKinds.Job]);
        return $"{target.Kind.Singular}/{target.Name}";
    }

    private static async Task<int> GetAsync(CliContext context, ParseResult parse, ObjectTarget target, string format, string owner, CancellationToken ct)
    {
        using var connection = context.Connect(parse);
        var now = context.Time.GetUtcNow();
        if (target.Name is not null)
        {
            var item = await GetOneAsync(connection, target, ct);
            await WriteAsync(context.IO, target.Kind, [item], format, single: true, now);
            return ExitCodes.Success;
        }

        var list = await connection.Client.ListAsync(new ListRequest { Kind = target.Kind.Kind, Owner = owner }, connection.Unary(ct));
        if (list.Items.Count == 0 && format == "table")
        {
            await context.IO.Error.WriteLineAsync($"No {target.Kind.Plural} found.");
            return ExitCodes.Success;
        }

        // Events read best oldest first, like a log, whatever order their ids give.
        var items = target.Kind == ObjectKinds.Event
            ? list.Items.OrderBy(i => i.Event?.Time?.ToDateTimeOffset() ?? DateTimeOffset.MinValue).ToList()
            : (IReadOnlyList<V1.Object>)list.Items;
        await WriteAsync(context.IO, target.Kind, items, format, single: false, now);
        return ExitCodes.Success;
    }

    /// <summary>Gets one object; a missing one is a plain "not found" error.</summary>
    public static async Task<V1.Object> GetOneAsync(ClusterConnection connection, ObjectTarget target, CancellationToken ct)
    {
        try
        {
            var response = await connection.Client.GetAsync(new GetRequest { Kind = target.Kind.Kind, Name = target.Name }, connection.Unary(ct));
            return response.Object ?? throw new CommandException($"{target} not found");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw new CommandException(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"{target} not found" : e.Status.Detail);
        }
    }

    public static async Task WriteAsync(IConsoleIO io, KindInfo kind, IReadOnlyList<V1.Object> items, string format, bool single, DateTimeOffset now)
    {
        switch (format)
        {
            case "json":
                await io.Out.WriteLineAsync(single ? JsonOutput.Format(JsonOutput.Inner(items[0])) : JsonOutput.FormatList(items.Select(JsonOutput.Inner)));
                break;
            case "yaml":
                await io.Out.WriteAsync(single ? SpecYaml.Format(items[0]) : SpecYaml.FormatList(items));
                break;
            default:
                TableWriter.Write(io, ObjectTables.Headers(kind.Kind), ObjectTables.Rows(items, now).ToList());
                break;
        }
    }

    private static async Task<int> WatchAsync(CliContext context, ParseResult parse, ObjectTarget target, string format, string owner, CancellationToken ct)
    {
        if (format == "yaml")
        {
            throw new UsageException("--watch prints a table or JSON lines, not YAML", "Use -o table or -o json with --watch.");
        }

        using var connection = context.Connect(parse);
        using var call = connection.Client.Watch(
            new WatchRequest { Kind = target.Kind.Kind, Name = target.Name ?? "", Owner = owner },
            ClusterConnection.Streaming(ct));
        var initial = new List<V1.Object>();
        var synced = false;
        var received = false;
        try
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                var e = call.ResponseStream.Current;
                received = true;
                if (format == "json")
                {
                    if (e.Type != WatchEventType.Synced)
                    {
                        await context.IO.Out.WriteLineAsync(JsonOutput.FormatWatchEvent(e, target.Kind.Singular));
                        await context.IO.Out.FlushAsync(ct);
                    }

                    continue;
                }

                if (!synced)
                {
                    if (e.Type == WatchEventType.Synced)
                    {
                        synced = true;
                        if (initial.Count == 0)
                        {
                            await context.IO.Error.WriteLineAsync($"No {target.Kind.Plural} found; watching for changes.");
                        }

                        TableWriter.Write(context.IO, ObjectTables.Headers(target.Kind.Kind), ObjectTables.Rows(initial, context.Time.GetUtcNow()).ToList());
                    }
                    else if (e.Object is not null)
                    {
                        initial.Add(e.Object);
                    }

                    continue;
                }

                if (e.Object is not null)
                {
                    TableWriter.Write(context.IO, ObjectTables.Headers(target.Kind.Kind), ObjectTables.Rows(e.Object, context.Time.GetUtcNow()).ToList(), showHeader: false);
                    await context.IO.Out.FlushAsync(ct);
                }
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && (e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled }))
        {
            // Ctrl-C is how a watch ends.
            return ExitCodes.Success;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && received)
        {
            // The watch was running and the control plane went away (stopped, restarted, network).
            throw new CommandException(
                $"lost the watch on the control plane at {ServerAddress.Display(connection.Server)} ({RpcErrors.Cause(e)}); run the command again to resume");
        }

        if (ct.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }

        throw new CommandException($"the control plane at {ServerAddress.Display(connection.Server)} ended the watch");
    }
}
