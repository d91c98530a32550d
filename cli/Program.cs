using Orchestrator.Cli;

using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C asks the command to end cleanly (a watch exits 0, `orc dev` shuts down); a second one kills.
    e.Cancel = !interrupted.IsCancellationRequested;
    interrupted.Cancel();
};

return await OrcApp.RunAsync(args, new SystemConsoleIO(), Environment.GetEnvironmentVariable, interrupted.Token);
