using System.CommandLine;
using Orchestrator.Cli.Client;
using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.Cli;

/// <summary>What every command shares: the console, the clock, the environment and the global options.</summary>
public sealed class CliContext
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public CliContext(IConsoleIO io, Func<string, string?> environment, TimeProvider time)
    {
        IO = io;
        Environment = environment;
        Time = time;
        ServerOption = new Option<string>("--server", "-s")
        {
            Description = $"Control plane address [env: {ServerAddress.EnvironmentVariable}]",
            Recursive = true,
            HelpName = "url",
            DefaultValueFactory = _ => environment(ServerAddress.EnvironmentVariable) is { Length: > 0 } fromEnv ? fromEnv : ServerAddress.Default,
        };
        TimeoutOption = new Option<TimeSpan?>("--timeout")
        {
            Description = "How long to wait for each answer from the control plane (500ms, 5s, 2m) [default: 30s]",
            Recursive = true,
            HelpName = "duration",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (!DurationText.TryParse(text, out var value, out var error))
                {
                    result.AddError($"--timeout: {error}");
                    return null;
                }

                if (value <= TimeSpan.Zero)
                {
                    result.AddError($"--timeout must be more than 0s; write it like 500ms, 5s or 2m");
                    return null;
                }

                return value;
            },
        };
    }

    public IConsoleIO IO { get; }

    public Func<string, string?> Environment { get; }

    public TimeProvider Time { get; }

    public Option<string> ServerOption { get; }

    public Option<TimeSpan?> TimeoutOption { get; }

    public Uri Server(ParseResult parse) => ServerAddress.Parse(parse.GetValue(ServerOption) ?? ServerAddress.Default);

    public TimeSpan Timeout(ParseResult parse) => parse.GetValue(TimeoutOption) is { } t && t > TimeSpan.Zero ? t : DefaultTimeout;

    public ClusterConnection Connect(ParseResult parse) => new(Server(parse), Timeout(parse));
}
