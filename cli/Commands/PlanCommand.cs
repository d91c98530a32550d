using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Output;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc plan -f FILE|DIR|- [-o json]</c>: a dry run of <c>orc apply</c> that also says what
/// happens to each object's replicas and where every new replica would go. Nothing is stored.
/// Exit code 0 when every new replica fits, <see cref="ExitCodes.WouldStayPending"/> when some
/// would stay Pending, 1 when a spec is invalid.
/// </summary>
public static class PlanCommand
{
    public static Command Create(CliContext context)
    {
        var files = new Option<string[]>("--filename", "-f")
        {
            Description = "Spec file, directory of *.yaml/*.yml files, or - for stdin (repeatable)",
            Required = true,
            HelpName = "file",
            AllowMultipleArgumentsPerToken = false,
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Output format: text or json",
            DefaultValueFactory = _ => "text",
            HelpName = "format",
        };
        output.Validators.Add(result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "text";
            if (text is not ("text" or "json"))
            {
                result.AddError($"-o \"{text}\" is not an output format; use text or json");
            }
        });
        var command = new Command(
            "plan",
            $"Show what applying spec files would change and where new replicas would go, without changing anything (exit code {ExitCodes.WouldStayPending} when a replica would not fit)")
        {
            files, output,
        };
        command.SetAction((parse, ct) => RunAsync(context, parse, parse.GetValue(files) ?? [], parse.GetValue(output) == "json", ct));
        return command;
    }

    private static async Task<int> RunAsync(CliContext context, ParseResult parse, string[] paths, bool json, CancellationToken ct)
    {
        var sources = await ApplyCommand.ReadSourcesAsync(context.IO, paths, ct);
        using var connection = context.Connect(parse);
        var request = new PlanRequest();
        request.Files.AddRange(sources.Select(s => new SpecFile { SourceName = s.Name, Content = s.Content }));
        PlanResponse plan;
        try
        {
            plan = await connection.Client.PlanAsync(request, connection.Unary(ct));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
        {
            var lines = ApplyCommand.ValidationLines(e);
            foreach (var line in lines)
            {
                await context.IO.Error.WriteLineAsync(line);
            }

            var problems = lines.Count == 1 ? "1 problem" : $"{lines.Count} problems";
            var where = sources.Count == 1 ? sources[0].Name : "the spec files";
            await context.IO.Error.WriteLineAsync($"error: {where} {(sources.Count == 1 ? "has" : "have")} {problems}; nothing was planned");
            return ExitCodes.Failure;
        }

        await context.IO.Out.WriteAsync(json ? JsonOutput.Format(plan) + "\n" : PlanWriter.Write(plan));
        return plan.Unschedulable > 0 ? ExitCodes.WouldStayPending : ExitCodes.Success;
    }
}
