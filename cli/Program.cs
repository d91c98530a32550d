using System.Runtime.InteropServices;
using Orchestrator.Cli;

using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C asks the command to end cleanly (a watch exits 0, `orc dev` shuts down); a second one kills.
    e.Cancel = !interrupted.IsCancellationRequested;
    interrupted.Cancel();
};

// SIGTERM (systemd, docker stop, kill) ends `orc dev` as cleanly as Ctrl-C does.
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    interrupted.Cancel();
});

return await OrcApp.RunAsync(args, new SystemConsoleIO(), Environment.GetEnvironmentVariable, interrupted.Token);
