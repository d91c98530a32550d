using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>Short human forms of times, quantities and enum values for tables.</summary>
public static class Humanize
{
    public const string None = "<none>";

    /// <summary>
    /// Age as kubectl prints it: precise when young, coarse when old
    /// (<c>45s</c>, <c>3m20s</c>, <c>45m</c>, <c>3h20m</c>, <c>23h</c>, <c>3d4h</c>, <c>123d</c>, <c>2y</c>).
    /// </summary>
    public static string Age(Timestamp? since, DateTimeOffset now)
    {
        if (since is null || (since.Seconds == 0 && since.Nanos == 0))
        {
            return None;
        }

        return Duration(now - since.ToDateTimeOffset());
    }

    public static string Duration(TimeSpan d)
    {
        if (d < TimeSpan.Zero)
        {
            d = TimeSpan.Zero;
        }

        var seconds = (long)d.TotalSeconds;
        var minutes = (long)d.TotalMinutes;
        var hours = (long)d.TotalHours;
        var days = (long)d.TotalDays;
        return d switch
        {
            _ when seconds < 120 => $"{seconds}s",
            _ when minutes < 10 => seconds % 60 == 0 ? $"{minutes}m" : $"{minutes}m{seconds % 60}s",
            _ when hours < 3 => $"{minutes}m",
            _ when hours < 8 => minutes % 60 == 0 ? $"{hours}h" : $"{hours}h{minutes % 60}m",
            _ when hours < 48 => $"{hours}h",
            _ when days < 8 => hours % 24 == 0 ? $"{days}d" : $"{days}d{hours % 24}h",
            _ when days < 365 * 2 => $"{days}d",
            _ => $"{days / 365}y",
        };
    }

    /// <summary>A protobuf duration as the spec writes it: <c>500ms</c>, <c>5s</c>, <c>2m</c>, <c>1m30s</c>.</summary>
    public static string SpecDuration(Google.Protobuf.WellKnownTypes.Duration? d) =>
        d is null ? None : DurationText.Format(d.ToTimeSpan());

    /// <summary>CPU in Kubernetes notation: <c>250m</c>, <c>2</c>.</summary>
    public static string Cpu(long millis) => Quantity.FormatCpu(millis);

    /// <summary>
    /// Memory in Kubernetes notation: exact and shortest when that is short (<c>128Mi</c>, <c>1Gi</c>,
    /// <c>512M</c>), otherwise rounded to one decimal in the largest binary unit (<c>23.3Gi</c>).
    /// </summary>
    public static string Memory(long bytes) => Quantity.FormatMemoryRounded(bytes);

    public static string Driver(Driver driver) => driver switch
    {
        V1.Driver.Docker => "docker",
        V1.Driver.Process => "process",
        _ => None,
    };

    public static string Phase(Phase phase) => phase == V1.Phase.Unspecified ? "Unknown" : phase.ToString();

    public static string NodeState(NodeState state) => state switch
    {
        V1.NodeState.Ready => "Ready",
        V1.NodeState.NotReady => "NotReady",
        V1.NodeState.Down => "Down",
        _ => "Unknown",
    };

    public static string JobState(JobState state) => state == V1.JobState.Unspecified ? "Pending" : state.ToString();

    public static string Rollout(RolloutState state) => state switch
    {
        RolloutState.Progressing => "Progressing",
        RolloutState.Complete => "Complete",
        RolloutState.Paused => "Paused",
        RolloutState.Failed => "Failed",
        RolloutState.RolledBack => "RolledBack",
        _ => "Unknown",
    };

    public static string EventType(EventType type) => type switch
    {
        V1.EventType.Normal => "Normal",
        V1.EventType.Warning => "Warning",
        _ => "Unknown",
    };

    public static string Protocol(Protocol protocol) => protocol switch
    {
        V1.Protocol.Http => "http",
        V1.Protocol.Tcp => "tcp",
        _ => "tcp",
    };

    /// <summary>What a replica runs: the image for docker, else the command line.</summary>
    public static string Workload(ReplicaTemplate? template)
    {
        if (template is null)
        {
            return None;
        }

        if (!string.IsNullOrEmpty(template.Image))
        {
            return template.Image;
        }

        var words = template.Command.Concat(template.Args).ToList();
        return words.Count == 0 ? None : Words(words);
    }

    /// <summary>A command line as a shell would need it: words with spaces or quotes are quoted.</summary>
    public static string Words(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));

    /// <summary>
    /// Ports as <c>8080->80/http</c> when published, else <c>80/http</c>. A process replica's port
    /// has no container port (it listens on the host port it is given): <c>8081->http/http</c>, or its name.
    /// </summary>
    public static string Ports(IEnumerable<PortSpec> ports)
    {
        var text = ports.Select(p =>
        {
            var inner = p.Port > 0 ? p.Port.ToString(CultureInfo.InvariantCulture) : p.Name.Length > 0 ? p.Name : "port";
            return p.Published > 0 ? $"{p.Published}->{inner}/{Protocol(p.Protocol)}" : $"{inner}/{Protocol(p.Protocol)}";
        }).ToList();
        return text.Count == 0 ? None : string.Join(',', text);
    }

    public static string Endpoints(IEnumerable<KeyValuePair<string, Endpoint>> endpoints)
    {
        var text = endpoints.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Value.Address}:{e.Value.Port}").ToList();
        return text.Count == 0 ? None : string.Join(',', text);
    }

    public static string Owner(OwnerRef? owner) =>
        owner is null || string.IsNullOrEmpty(owner.Name) ? None : $"{owner.Kind}/{owner.Name}";

    public static string Ref(ObjectRef? reference) =>
        reference is null || string.IsNullOrEmpty(reference.Name) ? None : $"{reference.Kind}/{reference.Name}";

    private static string Quote(string word) =>
        word.Length == 0 || word.Any(char.IsWhiteSpace) || word.Contains('"', StringComparison.Ordinal)
            ? $"\"{word.Replace("\"", "\\\"", StringComparison.Ordinal)}\""
            : word;
}
