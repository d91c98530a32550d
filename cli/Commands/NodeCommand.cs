using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Output;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc node cordon|uncordon|drain NAME</c>: stop placing on a node, take it back, or empty it.
/// Drain waits (unless <c>--no-wait</c>) until no replica that has not ended is left on the node,
/// printing a line whenever what is left changes, at most <c>--timeout</c> (default 5m).
/// </summary>
public static class NodeCommand
{
    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    public static Command Create(CliContext context)
    {
        var command = new Command("node", "Cordon, uncordon or drain a node");
        command.Add(Change(context, "cordon", "Stop placing new replicas on a node; the replicas it runs stay", (c, r, o) => c.CordonNodeAsync(r, o)));
        command.Add(Change(context, "uncordon", "Let new replicas be placed on a node again (also ends a drain)", (c, r, o) => c.UncordonNodeAsync(r, o)));
        command.Add(Drain(context));
        return command;
    }

    private static Argument<string> NameArgument() => new("name") { Description = "Node name (orc get nodes lists them); node/NAME works too" };

    private static Command Change(CliContext context, string verb, string description, Func<Cluster.ClusterClient, NodeCordonRequest, CallOptions, AsyncUnaryCall<NodeCordonResponse>> call)
    {
        var name = NameArgument();
        var command = new Command(verb, description) { name };
        command.SetAction(async (parse, ct) =>
        {
            var node = NodeName(parse.GetValue(name));
            using var connection = context.Connect(parse);
            var response = await CallAsync(() => call(connection.Client, new NodeCordonRequest { Node = node }, connection.Unary(ct)));
            var done = verb == "cordon" ? "cordoned" : "uncordoned";
            await context.IO.Out.WriteLineAsync(response.Changed ? $"node/{node} {done}" : $"node/{node} already {done}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Drain(CliContext context)
    {
        var name = NameArgument();
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the node is marked draining; do not wait for its replicas to go" };
        var command = new Command("drain", "Cordon a node and move its replicas elsewhere (replacements start first); waits until none is left, at most --timeout [default: 5m]")
        {
            name,
            noWait,
        };
        command.SetAction(async (parse, ct) =>
        {
            var node = NodeName(parse.GetValue(name));
            using var connection = context.Connect(parse);
            var response = await CallAsync(() => connection.Client.DrainNodeAsync(new NodeCordonRequest { Node = node }, connection.Unary(ct)));
            await context.IO.Out.WriteLineAsync(response.Changed ? $"node/{node} cordoned and draining" : $"node/{node} already draining");
            if (parse.GetValue(noWait))
            {
                await context.IO.Out.WriteLineAsync($"Not waiting: 'orc get replicas' shows what is left on {node}, 'orc describe node {node}' the drain's progress");
                return ExitCodes.Success;
            }

            var timeout = parse.GetValue(context.TimeoutOption) ?? DefaultDrainTimeout;
            var start = context.Time.GetTimestamp();
            string? last = null;
            while (true)
            {
                var list = await connection.Client.ListAsync(new ListRequest { Kind = ObjectKind.Replica }, connection.Unary(ct));
                var left = Left(list.Items.Select(o => o.Replica), node);
                if (left.Count == 0)
                {
                    await context.IO.Out.WriteLineAsync($"node/{node} drained: no replica is left on it (orc node uncordon {node} to use it again)");
                    return ExitCodes.Success;
                }

                var line = Describe(left);
                if (line != last)
                {
                    await context.IO.Out.WriteLineAsync($"node/{node}: {line}");
                    last = line;
                }

                var elapsed = context.Time.GetElapsedTime(start);
                if (elapsed >= timeout)
                {
                    throw new CommandException(
                        $"node/{node} still has {line} after {Humanize.Duration(timeout)}; the drain goes on in the cluster " +
                        $"(run 'orc node drain {node}' to wait again, or 'orc node uncordon {node}' to cancel it)");
                }

                var wait = timeout - elapsed < PollInterval ? timeout - elapsed : PollInterval;
                await Task.Delay(wait, context.Time, ct);
            }
        });
        return command;
    }

    /// <summary>The replicas bound to the node that have not ended (Succeeded, Lost, or Failed for good), by id.</summary>
    public static IReadOnlyList<Replica> Left(IEnumerable<Replica> replicas, string node) =>
        replicas
            .Where(r => r.Spec?.Node == node && !Ended(r.Status))
            .OrderBy(r => r.Meta?.Name, StringComparer.Ordinal)
            .ToList();

    private static bool Ended(ReplicaStatus? status) => status?.Phase switch
    {
        Phase.Succeeded or Phase.Lost => true,
        Phase.Failed => status.NextRetryAt is null,
        _ => false,
    };

    /// <summary>"2 replicas left: web-a (Ready), web-b (Draining)", at most ten named.</summary>
    public static string Describe(IReadOnlyList<Replica> left)
    {
        var named = string.Join(", ", left.Take(10).Select(r => $"{r.Meta.Name} ({Humanize.Phase(r.Status?.Phase ?? Phase.Pending)})"));
        return $"{left.Count} replica{(left.Count == 1 ? "" : "s")} left: {named}{(left.Count > 10 ? ", ..." : "")}";
    }

    private static string NodeName(string? text)
    {
        var name = text ?? "";
        foreach (var prefix in new[] { "node/", "nodes/", "no/" })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                name = name[prefix.Length..];
                break;
            }
        }

        if (name.Length == 0)
        {
            throw new UsageException("the node name is missing", "Write the node's name, for example: orc node drain node-2 ('orc get nodes' lists them).");
        }

        if (name.Length > 1 && name[0] == '-')
        {
            throw new UsageException($"unknown option \"{name}\"");
        }

        return name;
    }

    private static async Task<NodeCordonResponse> CallAsync(Func<AsyncUnaryCall<NodeCordonResponse>> call)
    {
        try
        {
            return await call();
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument)
        {
            throw new CommandException(e.Status.Detail);
        }
    }
}
