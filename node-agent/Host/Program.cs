using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Runtime.Docker;

// orc-agent: parse the command line, pick the runtimes, run the node until SIGTERM or Ctrl-C.
// Usage mistakes exit 2 with one line on stderr; a runtime that cannot run here exits 1.
// Replicas keep running when the agent stops (a new agent re-adopts them).
var commandLine = NodeAgentCommandLine.Parse(args);
if (commandLine.Help)
{
    Console.Out.WriteLine(NodeAgentCommandLine.Usage);
    return 0;
}

if (commandLine.Error is not null || commandLine.Options is null)
{
    Console.Error.WriteLine($"orc-agent: {commandLine.Error}");
    return 2;
}

var options = commandLine.Options;
var dockerVersion = options.Runtime == RuntimeMode.Process
    ? null
    : await RuntimeSelection.DockerVersionAsync(DockerRuntimeOptions.DefaultEndpoint(), CancellationToken.None);
try
{
    await using var app = NodeAgentApp.Build(options, dockerVersion);
    var runtimes = app.Services.GetRequiredService<RuntimeSelection>();
    Console.Out.WriteLine($"orc-agent: node {options.NodeName} at {options.Address}, runtime: {runtimes.Description}, control plane: {string.Join(", ", options.Servers)}");
    await app.RunAsync();
    return 0;
}
catch (FormatException e)
{
    Console.Error.WriteLine($"orc-agent: {e.Message}");
    return 2;
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"orc-agent: {e.Message}");
    return 1;
}
catch (IOException e)
{
    Console.Error.WriteLine($"orc-agent: cannot listen on {options.EffectiveHttpListen}: {e.Message}; pick another with --http-listen");
    return 1;
}
