using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Output;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orc explain replica ID [-o json]</c>: why a replica sits on its node, or why it is pending.
/// The control plane recomputes every node's verdict on a copy of the scheduler's snapshot, as
/// if the replica were being placed now, and compares it with the decision it was placed by.
/// </summary>
public static class ExplainCommand
{
    public static Command Create(CliContext context)
    {
        var target = new Argument<string>("target")
        {
            Description = "replica ID, replica/ID, or just the replica id (web-7f3k2); 'orc get replicas' lists them",
        };
        var name = new Argument<string?>("id")
        {
            Description = "Replica id, when the target is written as a kind: orc explain replica web-7f3k2",
            Arity = ArgumentArity.ZeroOrOne,
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
        var command = new Command("explain", "Say why a replica runs on its node, or why it is pending: every node's verdict") { target, name, output };
        command.SetAction(async (parse, ct) =>
        {
            var id = Resolve(parse.GetValue(target)!, parse.GetValue(name));
            using var connection = context.Connect(parse);
            ExplainResponse response;
            try
            {
                response = await connection.Client.ExplainAsync(new ExplainRequest { Replica = id }, connection.Unary(ct));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                throw new CommandException(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"replica \"{id}\" not found; 'orc get replicas' lists the replicas" : e.Status.Detail);
            }

            if (parse.GetValue(output) == "json")
            {
                await context.IO.Out.WriteLineAsync(JsonOutput.Format(response));
                return ExitCodes.Success;
            }

            await context.IO.Out.WriteAsync(ExplainWriter.Header(response, context.Time.GetUtcNow()));
            TableWriter.Write(context.IO, ExplainWriter.Headers, ExplainWriter.Rows(response).ToList());
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// The replica id from <c>replica ID</c>, <c>replica/ID</c> (any spelling of the kind) or a lone
    /// id. Another kind is a usage error that says how to find its replicas.
    /// </summary>
    public static string Resolve(string first, string? id)
    {
        if (id is null && !first.Contains('/', StringComparison.Ordinal) && !first.StartsWith('-'))
        {
            if (ObjectKinds.TryParse(first, out var kind))
            {
                throw kind == ObjectKinds.Replica
                    ? new UsageException($"explain needs a replica id after \"{first}\"", "Write \"orc explain replica ID\"; 'orc get replicas' lists the replicas.")
                    : OnlyReplicas(kind, null);
            }

            return first;
        }

        if (id is not null && !first.Contains('/', StringComparison.Ordinal) && !ObjectKinds.TryParse(first, out _)
            && Suggest.Closest(first, ObjectKinds.All.SelectMany(k => k.Names)) is null)
        {
            // "orc explain web-7f3k2 extra": not a misspelt kind, so the first word was the id.
            throw new UsageException(
                $"explain takes one replica id; \"{id}\" after \"{first}\" is one word too many",
                "Write \"orc explain replica ID\" or \"orc explain ID\".");
        }

        var target = ObjectTarget.ParseNamed(first, id, "explain");
        return target.Kind == ObjectKinds.Replica ? target.Name! : throw OnlyReplicas(target.Kind, target.Name);
    }

    private static UsageException OnlyReplicas(KindInfo kind, string? name)
    {
        var hint = (kind == ObjectKinds.Service || kind == ObjectKinds.Job) && name is not null
            ? $"'orc get replicas --owner {kind.Singular}/{name}' lists its replicas; explain one of them with \"orc explain replica ID\"."
            : "Write \"orc explain replica ID\"; 'orc get replicas' lists the replicas.";
        return new UsageException($"explain works on one replica at a time, not on {kind.Plural}", hint);
    }
}
