using System.Globalization;

namespace Orchestrator.NodeAgent.Hosting;

/// <summary>
/// The command line of <c>orc-agent</c>: options to run with, a request for help, or one error
/// line saying what is wrong and how to fix it.
/// </summary>
public sealed record NodeAgentCommandLine(NodeAgentOptions? Options, bool Help, string? Error)
{
    public const string Usage = """
        Usage: orc-agent [options]

        Runs an Orchestrator node agent: registers this node with a control plane and runs the
        replicas assigned to it, with Docker or as host processes.

        Options:
          --server URL          control plane gRPC address; repeat or separate with commas to give
                                several, tried in turn (default http://127.0.0.1:7070)
          --name NAME           node name (default: the host name)
          --address IP          address other nodes use to reach this node's replicas (default 127.0.0.1)
          --runtime MODE        auto | docker | process (default auto: processes always, Docker too
                                when a daemon answers at DOCKER_HOST or /var/run/docker.sock)
          --cpu QUANTITY        CPU capacity, e.g. 2 or 2000m (default: cores x 1000m)
          --memory QUANTITY     memory capacity, e.g. 4Gi (default: MemTotal from /proc/meminfo)
          --ports FIRST-LAST    host ports handed to replicas (default 20000-20999)
          --label KEY=VALUE     node label for placement constraints; repeatable
          --state-dir DIR       process replicas' records and logs (default /var/lib/orc-agent as root)
          --http-listen H:PORT  /healthz, /endpoints and /metrics over HTTP/1.1 (default: the address,
                                port 7072)
          --token TOKEN         join token, when the cluster requires one
          --no-mesh             do not run the routing mesh (published ports are not opened here)
          -h, --help            show this help
        """;

    private static readonly string[] ValueFlags =
        ["--server", "--name", "--address", "--runtime", "--cpu", "--memory", "--ports", "--label", "--state-dir", "--http-listen", "--token"];

    public static NodeAgentCommandLine Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new NodeAgentOptions();
        var servers = new List<Uri>();
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help" or "-?")
            {
                return new NodeAgentCommandLine(null, true, null);
            }

            if (arg == "--no-mesh")
            {
                options = options with { Mesh = false };
                continue;
            }

            var flag = arg;
            string? value = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                flag = arg[..eq];
                value = arg[(eq + 1)..];
            }

            if (!ValueFlags.Contains(flag))
            {
                return Fail(arg.StartsWith('-')
                    ? $"unknown option {flag}; run orc-agent --help for the options"
                    : $"unexpected argument \"{arg}\"; orc-agent takes only options (see --help)");
            }

            if (value is null)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    return Fail($"{flag} needs a value, for example {Example(flag)}");
                }

                value = args[++i];
            }

            var error = Apply(flag, value, ref options, servers, labels);
            if (error is not null)
            {
                return Fail(error);
            }
        }

        if (servers.Count > 0)
        {
            options = options with { Servers = servers };
        }

        options = options with { Labels = labels };
        if (options.HttpListen is null && !System.Net.IPAddress.TryParse(options.Address, out _))
        {
            // A host name as the node's address: the health endpoint then listens on all interfaces.
            options = options with { HttpListen = $"0.0.0.0:{NodeAgentOptions.DefaultHttpPort}" };
        }

        return new NodeAgentCommandLine(options, false, null);
    }

    private static string? Apply(string flag, string value, ref NodeAgentOptions options, List<Uri> servers, Dictionary<string, string> labels)
    {
        switch (flag)
        {
            case "--server":
                foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    var text = part.Contains("://", StringComparison.Ordinal) ? part : "http://" + part;
                    if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
                    {
                        return $"--server: \"{part}\" is not a control plane address; use http://HOST:PORT, for example --server http://10.0.0.1:7070";
                    }

                    servers.Add(uri);
                }

                return servers.Count == 0 ? "--server: no address given; use http://HOST:PORT" : null;
            case "--name":
                if (!IsDnsLabel(value))
                {
                    return $"--name: \"{value}\" is not a valid node name; use lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit (for example node-1)";
                }

                options = options with { NodeName = value };
                return null;
            case "--address":
                if (value.Length == 0 || value.Contains(':', StringComparison.Ordinal) && !System.Net.IPAddress.TryParse(value, out _))
                {
                    return $"--address: \"{value}\" is not an address; give an IP or host name without a port, for example --address 10.0.0.5";
                }

                options = options with { Address = value };
                return null;
            case "--runtime":
                RuntimeMode? mode = value switch
                {
                    "auto" => RuntimeMode.Auto,
                    "docker" => RuntimeMode.Docker,
                    "process" => RuntimeMode.Process,
                    _ => null,
                };
                if (mode is null)
                {
                    return $"--runtime: \"{value}\" is not a runtime; use auto, docker or process";
                }

                options = options with { Runtime = mode.Value };
                return null;
            case "--cpu":
                if (!ResourceQuantity.TryParseCpu(value, out var millis))
                {
                    return $"--cpu: \"{value}\" is not a CPU quantity; use cores (2, 0.5) or millicores (2000m)";
                }

                options = options with { CpuMillis = millis };
                return null;
            case "--memory":
                if (!ResourceQuantity.TryParseMemory(value, out var bytes))
                {
                    return $"--memory: \"{value}\" is not a memory quantity; use for example 4Gi or 512Mi";
                }

                options = options with { MemoryBytes = bytes };
                return null;
            case "--ports":
                var dash = value.IndexOf('-', StringComparison.Ordinal);
                if (dash <= 0
                    || !int.TryParse(value[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
                    || !int.TryParse(value[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
                    || first < 1 || last > 65535 || first > last)
                {
                    return $"--ports: \"{value}\" is not a port range; use FIRST-LAST between 1 and 65535, for example 20000-20999";
                }

                options = options with { FirstPort = first, LastPort = last };
                return null;
            case "--label":
                var sep = value.IndexOf('=', StringComparison.Ordinal);
                if (sep <= 0)
                {
                    return $"--label: \"{value}\" is not KEY=VALUE; for example --label zone=a";
                }

                labels[value[..sep]] = value[(sep + 1)..];
                return null;
            case "--state-dir":
                options = options with { StateDirectory = value };
                return null;
            case "--http-listen":
                var colon = value.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
                {
                    return $"--http-listen: \"{value}\" is not HOST:PORT; for example --http-listen 127.0.0.1:7072";
                }

                options = options with { HttpListen = value };
                return null;
            case "--token":
                options = options with { Token = value };
                return null;
            default:
                return $"unknown option {flag}";
        }
    }

    private static bool IsDnsLabel(string name) =>
        name.Length is > 0 and <= 63
        && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
        && name[0] != '-' && name[^1] != '-';

    private static string Example(string flag) => flag switch
    {
        "--server" => "--server http://127.0.0.1:7070",
        "--name" => "--name node-1",
        "--address" => "--address 10.0.0.5",
        "--runtime" => "--runtime process",
        "--cpu" => "--cpu 2",
        "--memory" => "--memory 4Gi",
        "--ports" => "--ports 20000-20999",
        "--label" => "--label zone=a",
        "--state-dir" => "--state-dir /var/lib/orc-agent",
        "--http-listen" => "--http-listen 127.0.0.1:7072",
        _ => $"{flag} VALUE",
    };

    private static NodeAgentCommandLine Fail(string error) => new(null, false, error);
}
