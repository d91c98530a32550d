using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Orchestrator.DemoApp;

var startedAt = TimeProvider.System.GetUtcNow();
var startTimestamp = TimeProvider.System.GetTimestamp();

if (args is ["--help"] or ["-h"])
{
    Console.Out.WriteLine(DemoOptions.Usage);
    return 0;
}

var options = DemoOptions.Parse(args, Environment.GetEnvironmentVariable, out var errors);
if (options is null)
{
    foreach (var error in errors)
    {
        Console.Error.WriteLine($"orc-demo: {error}");
    }

    Console.Error.WriteLine(DemoOptions.Usage);
    return 2;
}

var state = new DemoState();
Log.Line($"starting: replica {options.ReplicaId} on {options.Node} (service {options.Service}, revision {options.Revision}), port {options.Port}");

// The knobs that need no HTTP call run on timers counted from the start of the process.
using var crashTimer = options.CrashAfter is { } crashAfter
    ? TimeProvider.System.CreateTimer(
        _ =>
        {
            Log.Line($"DEMO_CRASH_AFTER={Text(crashAfter)} elapsed: crashing with exit code 1");
            NativeMethods.Crash(1);
        },
        null,
        crashAfter,
        Timeout.InfiniteTimeSpan)
    : null;
using var failHealthTimer = options.FailHealthAfter is { } failAfter
    ? TimeProvider.System.CreateTimer(
        _ =>
        {
            if (state.FailHealth())
            {
                Log.Line($"DEMO_FAIL_HEALTH_AFTER={Text(failAfter)} elapsed: /healthz now answers 503 until POST /recover");
            }
        },
        null,
        failAfter,
        Timeout.InfiniteTimeSpan)
    : null;

if (options.StartupDelay is { } startupDelay && startupDelay > TimeSpan.Zero)
{
    // Nothing listens yet, so readiness probes fail; SIGTERM in the meantime still ends cleanly.
    using var startup = new CancellationTokenSource();
    void Cancel(PosixSignalContext context)
    {
        context.Cancel = true;
        startup.Cancel();
    }

    using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel))
    using (PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel))
    {
        Log.Line($"DEMO_STARTUP_DELAY={Text(startupDelay)}: listening only after it");
        try
        {
            await Task.Delay(startupDelay, TimeProvider.System, startup.Token);
        }
        catch (OperationCanceledException)
        {
            Log.Line("stop requested before listening: exiting with code 0");
            return 0;
        }
    }
}

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
builder.WebHost.UseKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(IPAddress.Any, options.Port);
});
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(console =>
{
    console.SingleLine = true;
    console.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
    console.UseUtcTimestamp = true;
});
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(8));
builder.Services.Configure<ConsoleLifetimeOptions>(lifetime => lifetime.SuppressStatusMessages = true);
builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, DemoJson.Default));

var app = builder.Build();
var stopping = app.Lifetime.ApplicationStopping;
app.Lifetime.ApplicationStarted.Register(() =>
{
    var took = TimeProvider.System.GetElapsedTime(startTimestamp);
    Log.Line($"listening on http://0.0.0.0:{options.Port} ({took.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)}ms after start)");
});
app.Lifetime.ApplicationStopping.Register(() => Log.Line("stop requested: no new connections, finishing requests in flight"));
app.Lifetime.ApplicationStopped.Register(() => Log.Line($"stopped after {state.Requests} requests: exiting with code 0"));

app.Use(async (context, next) =>
{
    state.CountRequest();
    if (state.Hanging)
    {
        // A hung replica: the connection stays open and nothing is ever written. The wait ends
        // only when the client gives up or the process is stopped, so a liveness probe with a
        // timeout sees it and SIGTERM still ends the process.
        using var gone = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, gone.Token);
        }
        catch (OperationCanceledException)
        {
            context.Abort();
        }

        return;
    }

    await next(context);
});

app.MapGet("/", () => Results.Text(options.Greeting + "\n", "text/plain; charset=utf-8"));

app.MapGet("/info", () => TypedResults.Json(
    new DemoInfo(
        options.ReplicaId,
        options.Node,
        options.Service,
        options.Revision,
        options.Message,
        Environment.ProcessId,
        options.Port,
        startedAt,
        Math.Round(TimeProvider.System.GetElapsedTime(startTimestamp).TotalSeconds, 3),
        state.Requests,
        state.Healthy),
    DemoJson.Default.DemoInfo));

app.MapGet("/healthz", () => state.Healthy
    ? Results.Text("ok\n", "text/plain; charset=utf-8")
    : Results.Text("unhealthy\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status503ServiceUnavailable));

app.MapPost("/fail-health", () =>
{
    if (state.FailHealth())
    {
        Log.Line("POST /fail-health: /healthz now answers 503 until POST /recover");
    }

    return Results.Text("/healthz now answers 503 until POST /recover\n", "text/plain; charset=utf-8");
});

app.MapPost("/recover", () =>
{
    if (state.Recover())
    {
        Log.Line("POST /recover: /healthz answers 200 again");
    }

    return Results.Text("/healthz answers 200 again\n", "text/plain; charset=utf-8");
});

app.MapPost("/crash", (HttpContext context, string? code) =>
{
    var exitCode = 1;
    if (code is not null && (!int.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out exitCode) || exitCode > 255))
    {
        return Results.Text($"code: \"{code}\" is not an exit code; write a number from 0 to 255\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status400BadRequest);
    }

    Log.Line($"POST /crash: crashing with exit code {exitCode} once the answer is sent");
    context.Response.Headers.Connection = "close";
    context.Response.OnCompleted(async () =>
    {
        // The answer is written; give the socket a moment to carry it, then end like a crash would.
        await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System, CancellationToken.None);
        Log.Line($"crashing: exit code {exitCode}");
        NativeMethods.Crash(exitCode);
    });
    return Results.Text($"crashing with exit code {exitCode}\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status202Accepted);
});

app.MapPost("/hang", () =>
{
    if (state.Hang())
    {
        Log.Line("POST /hang: every later request hangs without an answer");
    }

    return Results.Text("hanging: every later request hangs without an answer (the process stays alive)\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status202Accepted);
});

await app.RunAsync();
return 0;

static string Text(TimeSpan duration) =>
    duration.TotalMilliseconds < 1000 || duration.Milliseconds != 0
        ? $"{duration.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)}ms"
        : $"{duration.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)}s";

/// <summary>What <c>GET /info</c> answers.</summary>
internal sealed record DemoInfo(
    string ReplicaId,
    string Node,
    string Service,
    string Revision,
    string? Message,
    int Pid,
    int Port,
    DateTimeOffset StartedAt,
    double UptimeSeconds,
    long Requests,
    bool Healthy);

/// <summary>Source-generated JSON, so the trimmed image keeps what it serializes.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(DemoInfo))]
internal sealed partial class DemoJson : JsonSerializerContext;
