using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Hosting;

/// <summary>
/// The command line of <c>orc-control-plane</c>: either options to run with, a request for
/// help, or one error line saying what is wrong and how to fix it.
/// </summary>
public sealed record ControlPlaneCommandLine(ControlPlaneOptions? Options, bool Help, string? Error)
{
    public const string Usage = """
        Usage: orc-control-plane [options]

        Runs the Orchestrator control plane: the cluster API (gRPC), health and metrics.

        Options:
          --listen HOST:PORT        gRPC endpoint, HTTP/2 only (default 127.0.0.1:7070)
          --http-listen HOST:PORT   /healthz, /readyz and /metrics over HTTP/1.1 (default 127.0.0.1:7071)
          --store URL               sqlite://PATH or etcd://HOST:PORT[,HOST:PORT...]
                                    (default sqlite://./orc-data/state.db; the folder is created)
          --member-id ID            this control plane's name among several on one store (default: host name)
          --node-grace DURATION     how long a node may stay silent before it is NotReady and its
                                    replicas Lost (default 3s; at least 2s, heartbeats come every 1s;
                                    give every control plane on one store the same value)
          --advertise URL           the gRPC address others (agents, orc) reach it at, shown by
                                    orc get controlplanes (default: the --listen address as bound)
          --event-ttl DURATION      how long events are kept (default 1h; e.g. 30m, 24h)
          --job-replica-retention DURATION
                                    how long a job's ended replica and its logs are kept (default 1h)
          --drain-timeout DURATION  how long a retiring replica waits, out of its service's endpoints,
                                    for every connected node to acknowledge that before it is asked
                                    to stop anyway (default 5s; 100ms to 10m)
          -h, --help                show this help

        Telemetry: traces and metrics go to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set;
        /metrics always serves Prometheus text.
        """;

    public static ControlPlaneCommandLine Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new ControlPlaneOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help" or "-?")
            {
                return new ControlPlaneCommandLine(null, true, null);
            }

            string flag = arg;
            string? value = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                flag = arg[..eq];
                value = arg[(eq + 1)..];
            }

            if (flag is not ("--listen" or "--http-listen" or "--store" or "--member-id" or "--node-grace" or "--advertise" or "--event-ttl" or "--job-replica-retention" or "--drain-timeout"))
            {
                return Fail(arg.StartsWith('-')
                    ? $"unknown option {flag}; run orc-control-plane --help for the options"
                    : $"unexpected argument \"{arg}\"; orc-control-plane takes only options (see --help)");
            }

            if (value is null)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    return Fail($"{flag} needs a value, for example {Example(flag)}");
                }

                value = args[++i];
            }

            if (value.Trim().Length == 0)
            {
                return Fail($"{flag} needs a value, for example {Example(flag)}");
            }

            switch (flag)
            {
                case "--listen":
                    options.Listen = value;
                    break;
                case "--http-listen":
                    options.HttpListen = value;
                    break;
                case "--store":
                    options.Store = value;
                    break;
                case "--node-grace":
                    var (grace, graceError) = ParseDuration(flag, value);
                    if (graceError is not null)
                    {
                        return Fail(graceError);
                    }

                    options.NodeGrace = grace;
                    break;
                case "--advertise":
                    if (!Uri.TryCreate(value, UriKind.Absolute, out var advertise) || advertise.Scheme is not ("http" or "https") || advertise.Host.Length == 0 || !HasPort(value))
                    {
                        return Fail($"--advertise \"{value}\" is not a gRPC address; give http://HOST:PORT, for example --advertise http://10.0.0.1:7070");
                    }

                    options.Advertise = advertise.GetLeftPart(UriPartial.Authority);
                    break;
                case "--drain-timeout":
                    var (drain, drainError) = ParseDuration(flag, value);
                    if (drainError is not null)
                    {
                        return Fail(drainError);
                    }

                    options.DrainTimeout = drain;
                    break;
                case "--event-ttl" or "--job-replica-retention":
                    var (duration, durationError) = ParseDuration(flag, value);
                    if (durationError is not null)
                    {
                        return Fail(durationError);
                    }

                    if (flag == "--event-ttl")
                    {
                        options.EventTtl = duration;
                    }
                    else
                    {
                        options.JobReplicaRetention = duration;
                    }

                    break;
                default:
                    if (!IsMemberId(value))
                    {
                        return Fail($"--member-id \"{value}\" is not a member id; use lower-case letters, digits, '-' and '.' (at most 253), for example --member-id cp-1");
                    }

                    options.MemberId = value;
                    break;
            }
        }

        try
        {
            var grpc = ListenAddress.Parse(options.Listen, "--listen");
            var http = ListenAddress.Parse(options.HttpListen, "--http-listen");
            if (grpc.Port != 0 && grpc.Port == http.Port)
            {
                return Fail($"--listen and --http-listen both use port {grpc.Port}; gRPC (HTTP/2) and HTTP/1.1 need separate ports");
            }
        }
        catch (FormatException e)
        {
            return Fail(e.Message);
        }

        try
        {
            _ = StateStoreFactory.Parse(options.Store);
        }
        catch (ArgumentException e)
        {
            return Fail("--store: " + StripParamName(e));
        }

        return new ControlPlaneCommandLine(options, false, null);
    }

    /// <summary>The message of an <see cref="ArgumentException"/> without the " (Parameter 'x')" suffix .NET appends.</summary>
    public static string StripParamName(ArgumentException e)
    {
        var suffix = e.ParamName is null ? null : $" (Parameter '{e.ParamName}')";
        return suffix is not null && e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }

    /// <summary>Two heartbeat intervals: one late heartbeat must not cost a node its replicas.</summary>
    public static readonly TimeSpan MinNodeGrace = TimeSpan.FromSeconds(2);

    /// <summary>The bounds of <c>--drain-timeout</c>: long enough for one round of acks, short enough that a stuck node cannot hold a rollout.</summary>
    public static readonly TimeSpan MinDrainTimeout = TimeSpan.FromMilliseconds(100);

    public static readonly TimeSpan MaxDrainTimeout = TimeSpan.FromMinutes(10);

    private static ControlPlaneCommandLine Fail(string message) => new(null, false, message);

    /// <summary>
    /// The value of a duration flag (<c>--node-grace</c>, <c>--event-ttl</c>,
    /// <c>--job-replica-retention</c>, <c>--drain-timeout</c>), or one line saying what is wrong with it and what to give
    /// instead. <c>orc dev</c> takes the same flags with the same rules.
    /// </summary>
    public static (TimeSpan Value, string? Error) ParseDuration(string flag, string value)
    {
        ArgumentNullException.ThrowIfNull(flag);
        ArgumentNullException.ThrowIfNull(value);
        if (!DurationText.TryParse(value, out var duration, out var error))
        {
            return (default, $"{flag}: {error}");
        }

        if (flag == "--node-grace" && duration < MinNodeGrace)
        {
            return (default, $"--node-grace {value} is too short: agents heartbeat every 1s, so a grace under {DurationText.Format(MinNodeGrace)} would judge healthy nodes lost; use 2s or more (default 3s)");
        }

        if (flag == "--drain-timeout" && (duration < MinDrainTimeout || duration > MaxDrainTimeout))
        {
            return (default, $"--drain-timeout {value} is out of range: give {DurationText.Format(MinDrainTimeout)} to {DurationText.Format(MaxDrainTimeout)} (default 5s); it bounds how long a retiring replica waits for every node's proxy to stop routing to it");
        }

        if (flag is not ("--node-grace" or "--drain-timeout") && duration < TimeSpan.FromMinutes(1))
        {
            return (default, $"{flag} \"{value}\" is shorter than a minute; give a duration of at least a minute, for example {Example(flag)}");
        }

        return (duration, null);
    }

    /// <summary>Whether a URL names its port (<c>http://h:80</c> does, <c>http://h</c> does not).</summary>
    private static bool HasPort(string url)
    {
        var authority = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..].Split('/')[0];
        return authority.LastIndexOf(':') > authority.LastIndexOf(']');
    }

    /// <summary>A member id is a key segment (<c>/orc/controlplanes/&lt;id&gt;</c>): a host name's characters, no '/'.</summary>
    private static bool IsMemberId(string value) =>
        value.Length <= 253 && value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.') && char.IsAsciiLetterOrDigit(value[0]);

    private static string Example(string flag) => flag switch
    {
        "--listen" => "--listen 127.0.0.1:7070",
        "--http-listen" => "--http-listen 127.0.0.1:7071",
        "--store" => "--store sqlite://./orc-data/state.db",
        "--node-grace" => "--node-grace 3s",
        "--advertise" => "--advertise http://10.0.0.1:7070",
        "--event-ttl" => "--event-ttl 24h",
        "--job-replica-retention" => "--job-replica-retention 2h",
        "--drain-timeout" => "--drain-timeout 5s",
        _ => "--member-id cp-1",
    };
}
