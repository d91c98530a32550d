using System.CommandLine;
using Grpc.Core;
using Orchestrator.Cli.Parsing;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc delete KIND NAME</c>: removes a service or job (its replicas are stopped by the controllers).</summary>
public static class DeleteCommand
{
    private static readonly KindInfo[] Deletable = [ObjectKinds.Service, ObjectKinds.Job];

    public static Command Create(CliContext context)
    {
        var args = new CommandArguments();
        var command = new Command("delete", "Delete a service or a job");
        args.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var target = ObjectTarget.ParseNamed(parse.GetValue(args.Kind)!, parse.GetValue(args.Name), "delete", Deletable);
            using var connection = context.Connect(parse);
            try
            {
                var response = await connection.Client.DeleteAsync(new DeleteRequest { Kind = target.Kind.Kind, Name = target.Name }, connection.Unary(ct));
                if (!response.Deleted)
                {
                    throw new CommandException($"{target} not found");
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                throw new CommandException(string.IsNullOrWhiteSpace(e.Status.Detail) ? $"{target} not found" : e.Status.Detail);
            }

            await context.IO.Out.WriteLineAsync($"{target} deleted");
            return ExitCodes.Success;
        });
        return command;
    }
}
