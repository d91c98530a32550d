using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc rollout status|history|undo|pause|resume NAME</c>: follow a service's rollout, list its
/// template revisions, go back to an earlier one, pause and resume.
/// </summary>
public static partial class RolloutCommand
{
    public static Command Create(CliContext context)
    {
        var rollout = new Command("rollout", "Follow, inspect, undo, pause and resume the rollouts of a service");
        var name = new Argument<string>("service") { Description = "Service name (or service/NAME)" };
        var history = new Command("history", "List the revisions of a service") { name };
        history.SetAction(async (parse, ct) =>
        {
            var target = Target(parse.GetValue(name)!, "rollout history");
            using var connection = context.Connect(parse);
            HistoryResponse response;
            try
            {
                response = await connection.Client.HistoryAsync(new HistoryRequest { Service = target.Name }, connection.Unary(ct));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                throw new CommandException(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"{target} not found" : e.Status.Detail);
            }

            if (response.Revisions.Count == 0)
            {
                await context.IO.Error.WriteLineAsync($"No revisions found for {target}.");
                return ExitCodes.Success;
            }

            WriteHistory(context.IO, response.Revisions, context.Time.GetUtcNow());
            return ExitCodes.Success;
        });
        rollout.Add(StatusCommand(context));
        rollout.Add(history);
        rollout.Add(UndoCommand(context));
        rollout.Add(PauseCommand(context, pause: true));
        rollout.Add(PauseCommand(context, pause: false));
        return rollout;
    }

    private static ObjectTarget Target(string text, string verb) =>
        text.Contains('/', StringComparison.Ordinal)
            ? ObjectTarget.ParseNamed(text, null, verb, [ObjectKinds.Service])
            : new ObjectTarget(ObjectKinds.Service, text);

    public static void WriteHistory(IConsoleIO io, IEnumerable<ServiceRevision> revisions, DateTimeOffset now) =>
        TableWriter.Write(
            io,
            ["REVISION", "CAUSE", "CREATED", "IMAGE/COMMAND"],
            revisions.Select(r => (IReadOnlyList<string>)
            [
                r.Revision.ToString(CultureInfo.InvariantCulture),
                r.Cause.Length > 0 ? r.Cause : Humanize.None,
                Humanize.Age(r.CreatedAt, now) is var age && age != Humanize.None ? $"{age} ago" : age,
                Humanize.Workload(r.Template),
            ]).ToList());
}
