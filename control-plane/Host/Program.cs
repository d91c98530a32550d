using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Store;

// orc-control-plane: parse the command line, open the store, serve until SIGTERM or Ctrl-C.
// Usage mistakes exit 2 with one line on stderr; a store that cannot be opened exits 1.
var commandLine = ControlPlaneCommandLine.Parse(args);
if (commandLine.Help)
{
    Console.Out.WriteLine(ControlPlaneCommandLine.Usage);
    return 0;
}

if (commandLine.Error is not null || commandLine.Options is null)
{
    Console.Error.WriteLine($"orc-control-plane: {commandLine.Error}");
    return 2;
}

Microsoft.AspNetCore.Builder.WebApplication app;
try
{
    app = await ControlPlaneApp.BuildAsync(commandLine.Options);
}
catch (FormatException e)
{
    Console.Error.WriteLine($"orc-control-plane: {e.Message}");
    return 2;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"orc-control-plane: --store: {ControlPlaneCommandLine.StripParamName(e)}");
    return 2;
}
catch (StateStoreException e)
{
    Console.Error.WriteLine($"orc-control-plane: cannot open the store {commandLine.Options.Store}: {e.Message}");
    return 1;
}

try
{
    await app.RunAsync();
    return 0;
}
catch (IOException e)
{
    // Kestrel reports an address in use as an IOException; say which and stop.
    Console.Error.WriteLine($"orc-control-plane: cannot listen: {e.Message}");
    return 1;
}
