using System.Globalization;
using System.Text.RegularExpressions;
using Orchestrator.V1;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// Writes specs back in the format users write (<c>kind: Service</c>, <c>resources: {cpu: 250m, memory: 128Mi}</c>,
/// durations as <c>5s</c>), so <c>orc get service web -o yaml</c> can be edited and fed back to <c>orc apply</c>.
/// <see cref="SpecParser.Parse"/> of the output gives back an equal spec. Fields whose value is what leaving them
/// out means (no command, no published port, no constraints) are left out.
/// </summary>
public static partial class SpecWriter
{
    private static readonly EmitterSettings Settings =
        new EmitterSettings().WithBestIndent(2).WithBestWidth(int.MaxValue).WithIndentedSequences().WithNewLine("\n");

    public static string ToYaml(ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var root = new YamlMappingNode();
        root.Add("kind", "Service");
        root.Add("name", Scalar(spec.Name));
        root.Add("replicas", Number(spec.Replicas));
        AddTemplate(root, spec.Template);
        if (spec.Update is { } update)
        {
            root.Add("update", Update(update));
        }

        if (spec.LoadBalancing != LoadBalancing.Unspecified)
        {
            root.Add("loadBalancing", spec.LoadBalancing switch
            {
                LoadBalancing.LeastRequests => "least-requests",
                LoadBalancing.PowerOfTwoChoices => "power-of-two-choices",
                _ => "round-robin",
            });
        }

        return Emit(root);
    }

    public static string ToYaml(JobSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var root = new YamlMappingNode();
        root.Add("kind", "Job");
        root.Add("name", Scalar(spec.Name));
        root.Add("completions", Number(spec.Completions));
        root.Add("parallelism", Number(spec.Parallelism));
        root.Add("backoffLimit", Number(spec.BackoffLimit));
        AddTemplate(root, spec.Template);
        return Emit(root);
    }

    public static string ToYaml(SpecDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return document.Service is not null ? ToYaml(document.Service) : ToYaml(document.Job!);
    }

    /// <summary>Several documents in one file, separated by <c>---</c>.</summary>
    public static string ToYaml(IEnumerable<SpecDocument> documents) =>
        string.Join("---\n", documents.Select(ToYaml));

    private static void AddTemplate(YamlMappingNode root, ReplicaTemplate? template)
    {
        if (template is null)
        {
            return;
        }

        if (template.Driver != Driver.Unspecified)
        {
            root.Add("driver", template.Driver == Driver.Process ? "process" : "docker");
        }

        if (template.Image.Length > 0)
        {
            root.Add("image", Scalar(template.Image));
        }

        if (template.Command.Count > 0)
        {
            root.Add("command", FlowList(template.Command));
        }

        if (template.Args.Count > 0)
        {
            root.Add("args", FlowList(template.Args));
        }

        if (template.Env.Count > 0)
        {
            var env = new YamlMappingNode();
            foreach (var (name, value) in template.Env)
            {
                env.Add(Scalar(name), Scalar(value));
            }

            root.Add("env", env);
        }

        if (template.Resources is { } resources)
        {
            root.Add("resources", new YamlMappingNode(
                new YamlScalarNode("cpu"), new YamlScalarNode(Quantity.FormatCpu(resources.CpuMillis)),
                new YamlScalarNode("memory"), new YamlScalarNode(Quantity.FormatMemory(resources.MemoryBytes)))
            { Style = MappingStyle.Flow });
        }

        if (template.Ports.Count > 0)
        {
            var ports = new YamlSequenceNode();
            foreach (var port in template.Ports)
            {
                var entry = new YamlMappingNode { Style = MappingStyle.Flow };
                entry.Add("name", Scalar(port.Name));
                if (port.Port != 0)
                {
                    entry.Add("port", Number(port.Port));
                }

                if (port.Published != 0)
                {
                    entry.Add("published", Number(port.Published));
                }

                if (port.Protocol != Protocol.Unspecified)
                {
                    entry.Add("protocol", port.Protocol == Protocol.Tcp ? "tcp" : "http");
                }

                ports.Add(entry);
            }

            root.Add("ports", ports);
        }

        if (template.Health is { } health && (health.Readiness is not null || health.Liveness is not null))
        {
            var node = new YamlMappingNode();
            if (health.Readiness is not null)
            {
                node.Add("readiness", Probe(health.Readiness));
            }

            if (health.Liveness is not null)
            {
                node.Add("liveness", Probe(health.Liveness));
            }

            root.Add("health", node);
        }

        if (template.Restart != RestartPolicy.Unspecified)
        {
            root.Add("restart", template.Restart switch
            {
                RestartPolicy.Always => "always",
                RestartPolicy.Never => "never",
                _ => "on-failure",
            });
        }

        if (template.StopGracePeriod is { } grace)
        {
            root.Add("stopGracePeriod", DurationText.Format(grace.ToTimeSpan()));
        }

        if (template.Placement is { } placement)
        {
            var node = new YamlMappingNode();
            if (placement.Constraints.Count > 0)
            {
                node.Add("constraints", FlowList(placement.Constraints.Select(c => c.Text.Length > 0 ? c.Text : ConstraintText.Format(c))));
            }

            if (placement.Strategy != PlacementStrategy.Unspecified)
            {
                node.Add("strategy", placement.Strategy == PlacementStrategy.Binpack ? "binpack" : "spread");
            }

            if (placement.MaxPerNode != 0)
            {
                node.Add("maxPerNode", Number(placement.MaxPerNode));
            }

            if (placement.SpreadBy.Length > 0)
            {
                node.Add("spreadBy", Scalar(placement.SpreadBy));
            }

            if (node.Children.Count > 0)
            {
                root.Add("placement", node);
            }
        }
    }

    private static YamlMappingNode Probe(Probe probe)
    {
        var node = new YamlMappingNode();
        switch (probe.CheckCase)
        {
            case Orchestrator.V1.Probe.CheckOneofCase.Http:
                node.Add("http", Scalar(probe.Http));
                break;
            case Orchestrator.V1.Probe.CheckOneofCase.Tcp:
                node.Add("tcp", Scalar(probe.Tcp));
                break;
            case Orchestrator.V1.Probe.CheckOneofCase.Exec:
                node.Add("exec", FlowList(probe.Exec.Command));
                break;
            default:
                break;
        }

        if (probe.Port.Length > 0)
        {
            node.Add("port", Scalar(probe.Port));
        }

        AddDuration(node, "interval", probe.Interval);
        AddDuration(node, "timeout", probe.Timeout);
        AddDuration(node, "initialDelay", probe.InitialDelay);
        node.Add("failureThreshold", Number(probe.FailureThreshold));
        node.Add("successThreshold", Number(probe.SuccessThreshold));
        return node;
    }

    private static YamlMappingNode Update(UpdateStrategy update)
    {
        var node = new YamlMappingNode { Style = MappingStyle.Flow };
        if (update.MaxSurge is { } surge)
        {
            node.Add("maxSurge", IntOrPercent(surge));
        }

        if (update.MaxUnavailable is { } unavailable)
        {
            node.Add("maxUnavailable", IntOrPercent(unavailable));
        }

        AddDuration(node, "minReady", update.MinReady);
        AddDuration(node, "progressDeadline", update.ProgressDeadline);
        if (update.OnFailure != OnFailure.Unspecified)
        {
            node.Add("onFailure", update.OnFailure == OnFailure.Pause ? "pause" : "rollback");
        }

        return node;
    }

    private static void AddDuration(YamlMappingNode node, string name, Google.Protobuf.WellKnownTypes.Duration? value)
    {
        if (value is not null)
        {
            node.Add(name, DurationText.Format(value.ToTimeSpan()));
        }
    }

    private static string IntOrPercent(IntOrPercent value) =>
        value.Value.ToString(CultureInfo.InvariantCulture) + (value.Percent ? "%" : "");

    private static YamlScalarNode Number(int value) => new(value.ToString(CultureInfo.InvariantCulture));

    private static YamlSequenceNode FlowList(IEnumerable<string> items)
    {
        var list = new YamlSequenceNode { Style = SequenceStyle.Flow };
        foreach (var item in items)
        {
            list.Add(Scalar(item));
        }

        return list;
    }

    /// <summary>
    /// Text as a scalar. The emitter quotes what YAML syntax needs; text the parser would read as null or
    /// would trim (<c>""</c>, <c>null</c>, <c>~</c>, surrounding spaces, control characters) is double-quoted here.
    /// </summary>
    private static YamlScalarNode Scalar(string text)
    {
        var needsQuotes = text.Length == 0 || text.Trim() != text || text is "~" or "null" or "Null" or "NULL" || text.Any(char.IsControl);
        return new YamlScalarNode(text) { Style = needsQuotes ? ScalarStyle.DoubleQuoted : ScalarStyle.Any };
    }

    private static string Emit(YamlMappingNode root)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        new YamlStream(new YamlDocument(root)).Save(new Emitter(writer, Settings), assignAnchors: false);
        var text = writer.ToString();

        // The stream ends its document with an explicit "..." marker; one document per text needs none.
        const string end = "...\n";
        text = text.EndsWith(end, StringComparison.Ordinal) ? text[..^end.Length] : text;

        // "{ cpu: 250m, memory: 128Mi }" as people write it. A flow mapping is the whole value of its line
        // (the width is unbounded), and a text value starting with "{" is always quoted by the emitter,
        // so a line whose value starts with "{" and ends with "}" is exactly one flow mapping.
        return FlowMapping().Replace(text, m => $"{m.Groups["prefix"].Value}{{ {m.Groups["body"].Value} }}");
    }

    [GeneratedRegex(@"^(?<prefix> *(- |[A-Za-z_][A-Za-z0-9_]*: ))\{(?<body>[^\n]+)\}$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex FlowMapping();
}
