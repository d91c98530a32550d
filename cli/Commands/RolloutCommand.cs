using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc rollout history NAME</c>: a service's template revisions, oldest first.</summary>
public static class RolloutCommand
{
    public static Command Create(CliContext context)
    {
        var rollout = new Command("rollout", "Inspect the rollouts of a service");
        var name = new Argument<string>("service") { Description = "Service name (or service/NAME)" };
        var history = new Command("history", "List the revisions of a service") { name };
        history.SetAction(async (parse, ct) =>
        {
            var text = parse.GetValue(name)!;
            var target = text.Contains('/', StringComparison.Ordinal)
                ? ObjectTarget.ParseNamed(text, null, "rollout history", [ObjectKinds.Service])
                : new ObjectTarget(ObjectKinds.Service, text);
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
        rollout.Add(history);
        return rollout;
    }

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
