using System.CommandLine;

namespace Orchestrator.Cli.Commands;

/// <summary>The <c>KIND [NAME]</c> arguments shared by the commands that point at objects.</summary>
public sealed class CommandArguments
{
    public Argument<string> Kind { get; } = new("kind")
    {
        Description = "services (svc), jobs, nodes (no), replicas (rep), events (ev), endpoints (ep), controlplanes (cp); singular, plural or KIND/NAME",
    };

    public Argument<string?> Name { get; } = new("name")
    {
        Description = "Object name (or write KIND/NAME)",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public void AddTo(Command command)
    {
        command.Add(Kind);
        command.Add(Name);
    }
}
