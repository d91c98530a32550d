using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc describe KIND NAME</c>: everything about one object, with its revisions, replicas and events.</summary>
public static class DescribeCommand
{
    public static Command Create(CliContext context)
    {
        var args = new CommandArguments();
        var command = new Command("describe", "Show one object in detail, with its replicas and recent events");
        args.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var target = ObjectTarget.ParseNamed(parse.GetValue(args.Kind)!, parse.GetValue(args.Name), "describe");
            using var connection = context.Connect(parse);
            var item = await GetCommand.GetOneAsync(connection, target, ct);
            var extras = await ExtrasAsync(connection, target, ct);
            await context.IO.Out.WriteAsync(Describer.Describe(item, extras, context.Time.GetUtcNow()));
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<DescribeExtras> ExtrasAsync(ClusterConnection connection, ObjectTarget target, CancellationToken ct)
    {
        var owner = $"{target.Kind.Singular}/{target.Name}";
        IReadOnlyList<ServiceRevision> revisions = [];
        IReadOnlyList<Replica> replicas = [];
        if (target.Kind == ObjectKinds.Service)
        {
            revisions = await OptionalAsync<ServiceRevision>(async () =>
                (await connection.Client.HistoryAsync(new HistoryRequest { Service = target.Name }, connection.Unary(ct))).Revisions.ToList());
        }

        if (target.Kind == ObjectKinds.Service || target.Kind == ObjectKinds.Job)
        {
            replicas = await ListAsync(connection, ObjectKind.Replica, owner, i => i.Replica, ct);
        }
        else if (target.Kind == ObjectKinds.Node)
        {
            var all = await ListAsync(connection, ObjectKind.Replica, "", i => i.Replica, ct);
            replicas = all.Where(r => r.Spec?.Node == target.Name).ToList();
        }

        IReadOnlyList<Event> events;
        if (target.Kind == ObjectKinds.Job)
        {
            // A job's story is mostly its replicas' (scheduled, started, exited): show those too, oldest first.
            var filter = EventFilter.For(target, replicas.Select(r => r.Meta?.Name).OfType<string>());
            events = (await ListAsync(connection, ObjectKind.Event, "", i => i.Event, ct))
                .Where(filter.Matches)
                .OrderBy(e => e.Time?.ToDateTimeOffset() ?? DateTimeOffset.MinValue)
                .ToList();
        }
        else
        {
            events = target.Kind == ObjectKinds.Event || target.Kind == ObjectKinds.Endpoints
                ? []
                : await ListAsync(connection, ObjectKind.Event, owner, i => i.Event, ct);
        }
        return new DescribeExtras(revisions, replicas, events);
    }

    private static Task<IReadOnlyList<T>> ListAsync<T>(ClusterConnection connection, ObjectKind kind, string owner, Func<V1.Object, T?> select, CancellationToken ct)
        where T : class =>
        OptionalAsync(async () =>
        {
            var list = await connection.Client.ListAsync(new ListRequest { Kind = kind, Owner = owner }, connection.Unary(ct));
            return (IReadOnlyList<T>)list.Items.Select(select).OfType<T>().ToList();
        });

    /// <summary>Related objects are extras: a server that cannot list them (older, or not yet storing them) still gets the main view.</summary>
    private static async Task<IReadOnlyList<T>> OptionalAsync<T>(Func<Task<IReadOnlyList<T>>> fetch)
    {
        try
        {
            return await fetch();
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unimplemented or StatusCode.NotFound or StatusCode.InvalidArgument)
        {
            return [];
        }
    }
}
