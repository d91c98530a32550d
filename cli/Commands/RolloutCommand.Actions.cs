using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Output;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc rollout status</c>, <c>undo</c>, <c>pause</c> and <c>resume</c>.</summary>
public static partial class RolloutCommand
{
    private static Command StatusCommand(CliContext context)
    {
        var name = new Argument<string>("service") { Description = "Service name (or service/NAME)" };
        var command = new Command(
            "status",
            "Follow a service's rollout until it completes (exit 0), fails or is rolled back (exit 1, with the reason); --timeout limits the wait")
        { name };
        command.SetAction(async (parse, ct) =>
        {
            var target = Target(parse.GetValue(name)!, "rollout status");
            using var connection = context.Connect(parse);
            using var limit = parse.GetValue(context.TimeoutOption) is { } timeout ? new CancellationTokenSource(timeout, context.Time) : new CancellationTokenSource();
            using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
            using var call = connection.Client.Watch(new WatchRequest { Kind = ObjectKind.Service, Name = target.Name }, ClusterConnection.Streaming(both.Token));
            var writer = new RolloutStatusWriter(context.IO, target.ToString());
            var seen = false;
            try
            {
                while (await call.ResponseStream.MoveNext(both.Token))
                {
                    var e = call.ResponseStream.Current;
                    if (e.Type == WatchEventType.Deleted)
                    {
                        throw new CommandException($"{target} was deleted during the rollout");
                    }

                    if (e.Type == WatchEventType.Synced && !seen)
                    {
                        throw new CommandException($"{target} not found");
                    }

                    if (e.Object?.Service is not { } service)
                    {
                        continue;
                    }

                    seen = true;
                    if (await writer.ShowAsync(service, both.Token) is { } exit)
                    {
                        return exit;
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException || (e is RpcException r && r.StatusCode == StatusCode.Cancelled))
            {
                if (!limit.IsCancellationRequested || ct.IsCancellationRequested)
                {
                    throw;
                }

                await writer.EndLineAsync();
                throw new CommandException($"timed out after {Orchestrator.ControlPlane.Specs.DurationText.Format(parse.GetValue(context.TimeoutOption)!.Value)} waiting for the rollout of {target}: {writer.Last}");
            }

            throw new CommandException($"the watch of {target} ended before the rollout did; run orc rollout status {target.Name} again");
        });
        return command;
    }

    private static Command UndoCommand(CliContext context)
    {
        var name = new Argument<string>("service") { Description = "Service name (or service/NAME)" };
        var to = new Option<long>("--to-revision")
        {
            Description = "The revision to go back to (orc rollout history lists them) [default: the previous one]",
            HelpName = "revision",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
                {
                    return n;
                }

                result.AddError($"--to-revision \"{text}\" is not a revision number; orc rollout history lists them (1, 2, ...)");
                return 0;
            },
        };
        var command = new Command("undo", "Go back to the previous revision of a service's template (or --to-revision N); it rolls out like any change") { name, to };
        command.SetAction(async (parse, ct) =>
        {
            var target = Target(parse.GetValue(name)!, "rollout undo");
            using var connection = context.Connect(parse);
            var response = await CallAsync(target, () => connection.Client.RolloutUndoAsync(new RolloutUndoRequest { Service = target.Name, ToRevision = parse.GetValue(to) }, connection.Unary(ct)).ResponseAsync);
            await context.IO.Out.WriteLineAsync($"{target} rolled back from revision {response.PreviousRevision} to revision {response.Revision}; follow it with: orc rollout status {target.Name}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command PauseCommand(CliContext context, bool pause)
    {
        var name = new Argument<string>("service") { Description = "Service name (or service/NAME)" };
        var command = new Command(
            pause ? "pause" : "resume",
            pause
                ? "Stop replacing replicas for template changes (scaling still works) until orc rollout resume"
                : "Let a paused rollout go on, or try a rollout halted by a failure (onFailure: pause) again")
        { name };
        command.SetAction(async (parse, ct) =>
        {
            var target = Target(parse.GetValue(name)!, pause ? "rollout pause" : "rollout resume");
            using var connection = context.Connect(parse);
            bool changed;
            if (pause)
            {
                changed = (await CallAsync(target, () => connection.Client.RolloutPauseAsync(new RolloutPauseRequest { Service = target.Name }, connection.Unary(ct)).ResponseAsync)).Changed;
                await context.IO.Out.WriteLineAsync(changed ? $"{target} paused" : $"{target} is already paused");
            }
            else
            {
                changed = (await CallAsync(target, () => connection.Client.RolloutResumeAsync(new RolloutResumeRequest { Service = target.Name }, connection.Unary(ct)).ResponseAsync)).Changed;
                await context.IO.Out.WriteLineAsync(changed ? $"{target} resumed" : $"{target} is not paused");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<T> CallAsync<T>(Parsing.ObjectTarget target, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw new CommandException(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"{target} not found" : e.Status.Detail);
        }
    }
}
