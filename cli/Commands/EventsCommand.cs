using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc events [-w] [--for KIND/NAME] [-o table|json]</c>: what the cluster did and why, oldest
/// first, as a table (TIME, TYPE, OBJECT, REASON, MESSAGE) or JSON; <c>-w</c> keeps printing new
/// events. <c>--for service/web</c> or <c>--for job/report</c> keeps the events of that object and
/// of its replicas, including replicas already deleted.
/// </summary>
public static class EventsCommand
{
    private static readonly KindInfo[] ForKinds = [ObjectKinds.Service, ObjectKinds.Job, ObjectKinds.Replica, ObjectKinds.Node];

    public static IReadOnlyList<string> Headers { get; } = ["TIME", "TYPE", "OBJECT", "REASON", "MESSAGE"];

    public static Command Create(CliContext context)
    {
        var output = new Option<string>("--output", "-o")
        {
            Description = "Output format: table or json (with -w, one JSON event per line)",
            DefaultValueFactory = _ => "table",
            HelpName = "format",
        };
        output.Validators.Add(result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "table";
            if (text is not ("table" or "json"))
            {
                result.AddError($"-o \"{text}\" is not an output format for events; use table or json");
            }
        });
        var watch = new Option<bool>("--watch", "-w") { Description = "Keep printing new events until Ctrl-C" };
        var forOption = new Option<string?>("--for")
        {
            Description = "Only events of this object and of its replicas (service/web, job/report, replica/web-7f3k2, node/node-1)",
            HelpName = "kind/name",
        };
        var command = new Command("events", "Show what the cluster did and why, oldest first") { output, watch, forOption };
        command.SetAction((parse, ct) =>
        {
            var filter = parse.GetValue(forOption) is { } text ? ParseFor(text) : null;
            var format = parse.GetValue(output) ?? "table";
            return parse.GetValue(watch)
                ? WatchAsync(context, parse, filter, format, ct)
                : ListAsync(context, parse, filter, format, ct);
        });
        return command;
    }

    private static ObjectTarget ParseFor(string text)
    {
        if (!text.Contains('/', StringComparison.Ordinal))
        {
            throw new UsageException($"--for \"{text}\" needs a kind and a name", "Write --for service/web, --for job/report or --for replica/web-7f3k2.");
        }

        return ObjectTarget.ParseNamed(text, null, "events --for", ForKinds);
    }

    private static async Task<int> ListAsync(CliContext context, ParseResult parse, ObjectTarget? filter, string format, CancellationToken ct)
    {
        using var connection = context.Connect(parse);
        var matcher = await EventFilter.CreateAsync(connection, filter, ct);
        var list = await connection.Client.ListAsync(new ListRequest { Kind = ObjectKind.Event }, connection.Unary(ct));
        var events = list.Items.Select(i => i.Event).OfType<Event>().Where(matcher.Matches).OrderBy(Time).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();
        if (format == "json")
        {
            await context.IO.Out.WriteLineAsync(JsonOutput.FormatList(events));
            return ExitCodes.Success;
        }

        if (events.Count == 0)
        {
            await context.IO.Error.WriteLineAsync(filter is null ? "No events found." : $"No events found for {filter}.");
            return ExitCodes.Success;
        }

        TableWriter.Write(context.IO, Headers, events.Select(e => Row(e, context.Time.GetUtcNow())).ToList());
        return ExitCodes.Success;
    }

    private static async Task<int> WatchAsync(CliContext context, ParseResult parse, ObjectTarget? filter, string format, CancellationToken ct)
    {
        using var connection = context.Connect(parse);
        var matcher = await EventFilter.CreateAsync(connection, filter, ct);
        using var call = connection.Client.Watch(new WatchRequest { Kind = ObjectKind.Event }, ClusterConnection.Streaming(ct));
        var initial = new List<Event>();
        var synced = false;
        var received = false;
        try
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                var e = call.ResponseStream.Current;
                received = true;
                if (e.Type == WatchEventType.Synced)
                {
                    synced = true;
                    await WriteAsync(context, initial.OrderBy(Time).ThenBy(x => x.Id, StringComparer.Ordinal).ToList(), format, header: true, ct);
                    continue;
                }

                // An event is written once; a later change to it (none today) or its expiry is not news.
                if (e.Type is not (WatchEventType.Added or WatchEventType.Modified) || e.Object?.Event is not { } ev || !matcher.Matches(ev))
                {
                    continue;
                }

                if (!synced)
                {
                    initial.Add(ev);
                    continue;
                }

                await WriteAsync(context, [ev], format, header: false, ct);
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && (e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled }))
        {
            // Ctrl-C is how a watch ends.
            return ExitCodes.Success;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && received)
        {
            throw new CommandException($"lost the watch on the control plane at {ServerAddress.Display(connection.Server)} ({RpcErrors.Cause(e)}); run the command again to resume");
        }

        if (ct.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }

        throw new CommandException($"the control plane at {ServerAddress.Display(connection.Server)} ended the watch");
    }

    private static async Task WriteAsync(CliContext context, List<Event> events, string format, bool header, CancellationToken ct)
    {
        if (format == "json")
        {
            foreach (var e in events)
            {
                await context.IO.Out.WriteLineAsync(JsonOutput.ToNode(e).ToJsonString());
            }
        }
        else if (events.Count > 0 || header)
        {
            TableWriter.Write(context.IO, Headers, events.Select(e => Row(e, context.Time.GetUtcNow())).ToList(), showHeader: header);
        }

        await context.IO.Out.FlushAsync(ct);
    }

    public static IReadOnlyList<string> Row(Event e, DateTimeOffset now)
    {
        var age = Humanize.Age(e.Time, now);
        return
        [
            age == Humanize.None ? age : age + " ago",
            Humanize.EventType(e.Type),
            Humanize.Ref(e.Object),
            e.Reason,
            e.Message,
        ];
    }

    private static DateTimeOffset Time(Event e) => e.Time?.ToDateTimeOffset() ?? DateTimeOffset.MinValue;
}

/// <summary>
/// Which events belong to an object: its own, and for a service or job those of its replicas,
/// known by the replicas listed now and by the id rule (<c>&lt;owner&gt;-&lt;5 letters or digits&gt;</c>)
/// for replicas already deleted (a job's finished tries, a service's retired replicas).
/// </summary>
public sealed class EventFilter
{
    private const int SuffixLength = 5;
    private readonly ObjectTarget? _target;
    private readonly HashSet<string> _replicas;

    private EventFilter(ObjectTarget? target, HashSet<string> replicas)
    {
        _target = target;
        _replicas = replicas;
    }

    public static EventFilter For(ObjectTarget? target, IEnumerable<string> replicaIds) =>
        new(target, new HashSet<string>(replicaIds, StringComparer.Ordinal));

    /// <summary>A filter for <paramref name="target"/>, with the ids of its replicas listed now (none needed for other kinds).</summary>
    public static async Task<EventFilter> CreateAsync(ClusterConnection connection, ObjectTarget? target, CancellationToken ct)
    {
        if (target is null || (target.Kind != ObjectKinds.Service && target.Kind != ObjectKinds.Job))
        {
            return For(target, []);
        }

        var list = await connection.Client.ListAsync(new ListRequest { Kind = ObjectKind.Replica, Owner = target.ToString() }, connection.Unary(ct));
        return For(target, list.Items.Select(i => i.Replica?.Meta?.Name).OfType<string>());
    }

    public bool Matches(Event e)
    {
        if (_target is null)
        {
            return true;
        }

        var kind = e.Object?.Kind ?? "";
        var name = e.Object?.Name ?? "";
        if (kind == _target.Kind.Singular && name == _target.Name)
        {
            return true;
        }

        return kind == ObjectKinds.Replica.Singular
            && (_target.Kind == ObjectKinds.Service || _target.Kind == ObjectKinds.Job)
            && (_replicas.Contains(name) || OwnerByIdRule(name) == _target.Name);
    }

    private static string? OwnerByIdRule(string id) =>
        id.Length > SuffixLength + 1 && id[^(SuffixLength + 1)] == '-' && id[^SuffixLength..].All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9'))
            ? id[..^(SuffixLength + 1)]
            : null;
}
