using System.Globalization;

namespace Orchestrator.DemoApp;

/// <summary>
/// What the demo reads at start: the port (<c>--port</c>, else <c>PORT</c>, else 8080), the replica's
/// identity (<c>ORC_*</c>, ADR 0007) and the fault knobs (<c>DEMO_*</c>).
/// </summary>
public sealed record DemoOptions
{
    public const int DefaultPort = 8080;

    public int Port { get; init; } = DefaultPort;

    public string ReplicaId { get; init; } = "";

    public string Node { get; init; } = "";

    public string Service { get; init; } = "";

    public string Revision { get; init; } = "";

    public string? Message { get; init; }

    public TimeSpan? CrashAfter { get; init; }

    public TimeSpan? FailHealthAfter { get; init; }

    public TimeSpan? StartupDelay { get; init; }

    public const string Usage =
        """
        usage: orc-demo [--port N]
          Listens on 0.0.0.0:N (default: $PORT, else 8080).
          GET /          hello from <replica> on <node> (service <service>, revision <revision>)
          GET /info      the same as JSON, with pid, start time, uptime and request count
          GET /healthz   200 ok, or 503 after POST /fail-health (until POST /recover)
          POST /crash?code=N   answers 202, then exits with code N (default 1)
          POST /hang     every later request hangs without an answer
        environment: PORT, ORC_REPLICA_ID, ORC_NODE, ORC_SERVICE, ORC_REVISION,
          DEMO_MESSAGE (extra text in /), DEMO_STARTUP_DELAY (listen only after it),
          DEMO_CRASH_AFTER (exit 1 after it), DEMO_FAIL_HEALTH_AFTER (fail /healthz after it);
          durations are written 500ms, 5s, 2m.
        """;

    /// <summary>Reads the options; returns null with the errors (one per line) when something is malformed.</summary>
    public static DemoOptions? Parse(IReadOnlyList<string> args, Func<string, string?> environment, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var problems = new List<string>();

        string? portText = null;
        var portSource = "PORT";
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--port")
            {
                if (i + 1 >= args.Count)
                {
                    problems.Add("--port needs a value: --port 8080");
                    break;
                }

                portText = args[++i];
                portSource = "--port";
            }
            else if (arg.StartsWith("--port=", StringComparison.Ordinal))
            {
                portText = arg["--port=".Length..];
                portSource = "--port";
            }
            else
            {
                problems.Add($"unknown argument \"{arg}\"; the only option is --port N");
            }
        }

        portText ??= environment("PORT");
        var port = DefaultPort;
        if (!string.IsNullOrWhiteSpace(portText)
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            problems.Add($"{portSource}: \"{portText}\" is not a port; write a number from 1 to 65535");
        }

        TimeSpan? Duration(string name)
        {
            var text = environment(name);
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            if (Durations.TryParse(text, out var value, out var error))
            {
                return value;
            }

            problems.Add($"{name}: {error}");
            return null;
        }

        string Or(string name, string fallback) => environment(name) is { Length: > 0 } value ? value : fallback;

        var options = new DemoOptions
        {
            Port = port,
            ReplicaId = Or("ORC_REPLICA_ID", $"pid-{Environment.ProcessId}"),
            Node = Or("ORC_NODE", Environment.MachineName),
            Service = Or("ORC_SERVICE", "none"),
            Revision = Or("ORC_REVISION", "0"),
            Message = environment("DEMO_MESSAGE") is { Length: > 0 } message ? message : null,
            StartupDelay = Duration("DEMO_STARTUP_DELAY"),
            CrashAfter = Duration("DEMO_CRASH_AFTER"),
            FailHealthAfter = Duration("DEMO_FAIL_HEALTH_AFTER"),
        };

        errors = problems;
        return problems.Count == 0 ? options : null;
    }

    /// <summary>The line <c>GET /</c> answers (without the newline).</summary>
    public string Greeting =>
        $"hello from {ReplicaId} on {Node} (service {Service}, revision {Revision})" + (Message is null ? "" : $": {Message}");
}
