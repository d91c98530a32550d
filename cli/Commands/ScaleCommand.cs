using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc scale service NAME --replicas N</c>: changes the replica count only, never the template.</summary>
public static class ScaleCommand
{
    public static Command Create(CliContext context)
    {
        var args = new CommandArguments();
        var replicas = new Option<int>("--replicas", "-r")
        {
            Description = "Desired number of replicas (0 or more)",
            Required = true,
            HelpName = "count",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return n;
                }

                result.AddError($"--replicas \"{text}\" is not a whole number of 0 or more");
                return 0;
            },
        };
        var command = new Command("scale", "Set the number of replicas of a service") { replicas };
        args.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var target = ObjectTarget.ParseNamed(parse.GetValue(args.Kind)!, parse.GetValue(args.Name), "scale", [ObjectKinds.Service]);
            var count = parse.GetValue(replicas);
            using var connection = context.Connect(parse);
            try
            {
                var response = await connection.Client.ScaleAsync(new ScaleRequest { Service = target.Name, Replicas = count }, connection.Unary(ct));
                await context.IO.Out.WriteLineAsync(response.Previous == response.Replicas
                    ? $"{target} already has {response.Replicas} replicas"
                    : $"{target} scaled from {response.Previous} to {response.Replicas}");
                return ExitCodes.Success;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                throw new CommandException(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"{target} not found" : e.Status.Detail);
            }
        });
        return command;
    }
}
