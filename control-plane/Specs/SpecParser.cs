using System.Globalization;
using Orchestrator.V1;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>
/// Parses spec files (what <c>orc apply -f</c> reads): one or more YAML documents of <c>kind: Service</c> or
/// <c>kind: Job</c>. Pure: text in, specs with every default applied or every error found out. Nothing is
/// thrown for bad input; see docs/spec.md for the format and docs/adr/0003-spec-format.md for why.
/// </summary>
public static class SpecParser
{
    private static readonly string[] KubernetesKinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "CronJob"];

    /// <summary>Parses <paramref name="content"/>; <paramref name="sourceName"/> names the file in errors.</summary>
    public static SpecParseResult Parse(string content, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(sourceName);

        var reader = new SpecReader(sourceName);
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(content));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            if (YamlSyntax.FirstTabIndentedLine(content) is { } tabLine)
            {
                // YamlDotNet points at the start of the enclosing mapping; the tab itself is more useful.
                reader.Error(tabLine, 1, "", "not valid YAML: this line is indented with a tab; YAML indents with spaces only");
            }
            else
            {
                var (field, message) = YamlSyntax.Explain(e);
                reader.Error((int)e.Start.Line, (int)e.Start.Column, field, message);
            }

            return new SpecParseResult([], reader.Errors);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner fails this way on some malformed flow collections, and its node
            // loader on some stray events (" : .\"é" ends a mapping early); the last event it
            // produced is the closest position we have.
            var mark = parser.Current?.End ?? Mark.Empty;
            reader.Error((int)mark.Line, (int)mark.Column, "", $"not valid YAML (column {mark.Column}): a [list] or {{mapping}} is not closed or a value is not quoted; close the brackets and quote values that contain : [ ] {{ }} or ,");
            return new SpecParseResult([], reader.Errors);
        }

        var documents = new List<SpecDocument>();
        var names = new Dictionary<(string Kind, string Name), int>();
        var published = new Dictionary<int, (string Name, int Line)>();
        foreach (var yaml in stream.Documents)
        {
            if (SpecReader.IsNull(yaml.RootNode))
            {
                continue; // an empty document, such as a trailing ---
            }

            var documentReader = new DocumentReader(reader);
            var document = documentReader.Read(yaml.RootNode, out var kindWord, out var name, out var nameNode);

            // The mesh listens on a published port on every node, for one service only.
            foreach (var (port, node, field) in documentReader.Published)
            {
                if (published.TryGetValue(port, out var owner))
                {
                    reader.Error(node, field, $"{port.ToString(CultureInfo.InvariantCulture)} is already published by {(owner.Name.Length > 0 ? "the service " + SpecReader.Quote(owner.Name) : "another service")} at line {owner.Line.ToString(CultureInfo.InvariantCulture)}; every node listens on a published port for one service only, use a different port");
                }
                else
                {
                    published[port] = (name ?? "", (int)node.Start.Line);
                }
            }

            // Checked for documents with other errors too, so a fix does not reveal a new error.
            if (kindWord is not null && name is { Length: > 0 } && nameNode is not null)
            {
                if (names.TryGetValue((kindWord, name), out var firstLine))
                {
                    reader.Error(nameNode, "name", $"{SpecReader.Quote(name)} is already used by the {kindWord} at line {firstLine.ToString(CultureInfo.InvariantCulture)}; give each {kindWord.ToLowerInvariant()} its own name");
                }
                else
                {
                    names[(kindWord, name)] = (int)yaml.RootNode.Start.Line;
                }
            }

            if (document is not null)
            {
                documents.Add(document);
            }
        }

        if (reader.ErrorCount == 0 && documents.Count == 0)
        {
            reader.Error(1, 1, "", "the file has no documents; write at least kind: Service, name: web and image: nginx:1.27");
        }

        var errors = reader.Errors.OrderBy(e => e.Line).ThenBy(e => e.Column).ToList();
        return errors.Count > 0 ? new SpecParseResult([], errors) : new SpecParseResult(documents, []);
    }

    /// <summary>Reads one document; returns null when the document has errors (they are in the reader).</summary>
    private sealed class DocumentReader(SpecReader r)
    {
        /// <summary>The published ports of a service document, for the check across documents.</summary>
        public IReadOnlyList<(int Port, YamlNode Node, string Field)> Published { get; private set; } = [];

        /// <param name="kind">The canonical kind, when it could be read.</param>
        /// <param name="name">The name, when it is valid.</param>
        public SpecDocument? Read(YamlNode root, out string? kind, out string? name, out YamlNode? nameNode)
        {
            kind = null;
            name = null;
            nameNode = null;
            var line = (int)root.Start.Line;
            if (root is not YamlMappingNode mapping)
            {
                r.Error(root, "", $"a document must be a mapping of fields such as kind: Service and name: web; found {SpecReader.Describe(root)}");
                return null;
            }

            var kindNode = mapping.Children.FirstOrDefault(c => c.Key is YamlScalarNode { Value: "kind" }).Value;
            if (SpecReader.IsNull(kindNode))
            {
                r.Error(root, "kind", "missing; start the document with kind: Service or kind: Job");
                return null;
            }

            kind = ReadKind(kindNode!);
            if (kind is null)
            {
                return null;
            }

            var before = r.ErrorCount;
            if (kind == "Service")
            {
                var service = ReadService(mapping, out nameNode);
                name = service.Name;
                return r.ErrorCount == before ? new SpecDocument(line, service, null) : null;
            }

            var job = ReadJob(mapping, out nameNode);
            name = job.Name;
            return r.ErrorCount == before ? new SpecDocument(line, null, job) : null;
        }

        private string? ReadKind(YamlNode node)
        {
            if (node is not YamlScalarNode { Value: { } text })
            {
                r.Error(node, "kind", $"expected Service or Job; found {SpecReader.Describe(node)}");
                return null;
            }

            var canonical = SpecSchema.Kinds.FirstOrDefault(k => string.Equals(k, text.Trim(), StringComparison.OrdinalIgnoreCase));
            if (canonical is not null)
            {
                return canonical;
            }

            if (KubernetesKinds.Contains(text.Trim(), StringComparer.OrdinalIgnoreCase))
            {
                r.Error(node, "kind", $"{SpecReader.Quote(text)} is a Kubernetes kind; write kind: Service for a replicated, long-running workload or kind: Job for one that runs to completion");
            }
            else if (Suggest.Closest(text, SpecSchema.Kinds) is { } close)
            {
                r.Error(node, "kind", $"{SpecReader.Quote(text)} is not a kind; did you mean {close}?");
            }
            else
            {
                r.Error(node, "kind", $"{SpecReader.Quote(text)} is not a kind; write Service or Job");
            }

            return null;
        }

        private ServiceSpec ReadService(YamlMappingNode mapping, out YamlNode? nameNode)
        {
            var fields = r.Map(mapping, "", SpecSchema.ServiceFields, "kind: Service", ServiceHint)!;
            var template = new TemplateReader(r, isJob: false);
            var spec = new ServiceSpec
            {
                Name = ReadName(fields, "service", out nameNode) ?? "",
                Replicas = fields["replicas"] is { } replicas
                    ? r.Int(replicas, "replicas", 0, SpecDefaults.MaxReplicas, "a count such as 3") ?? 0
                    : SpecDefaults.Replicas,
                Template = template.Read(fields),
                Update = ReadUpdate(fields["update"]),
                LoadBalancing = ReadLoadBalancing(fields["loadBalancing"]),
            };
            Published = template.Published;
            return spec;
        }

        private JobSpec ReadJob(YamlMappingNode mapping, out YamlNode? nameNode)
        {
            var fields = r.Map(mapping, "", SpecSchema.JobFields, "kind: Job", JobHint)!;
            return new JobSpec
            {
                Name = ReadName(fields, "job", out nameNode) ?? "",
                Completions = fields["completions"] is { } completions
                    ? r.Int(completions, "completions", 1, SpecDefaults.MaxReplicas, "how many replicas must succeed, such as 5") ?? 0
                    : SpecDefaults.Completions,
                Parallelism = fields["parallelism"] is { } parallelism
                    ? r.Int(parallelism, "parallelism", 1, SpecDefaults.MaxReplicas, "how many replicas run at once, such as 2") ?? 0
                    : SpecDefaults.Parallelism,
                BackoffLimit = fields["backoffLimit"] is { } backoff
                    ? r.Int(backoff, "backoffLimit", 0, SpecDefaults.MaxBackoffLimit, "how many failures to retry, such as 3") ?? 0
                    : SpecDefaults.BackoffLimit,
                Template = new TemplateReader(r, isJob: true).Read(fields),
            };
        }

        private string? ReadName(Fields fields, string kind, out YamlNode? nameNode)
        {
            nameNode = fields["name"];
            if (nameNode is null)
            {
                r.Error(fields.KeyNode("name") ?? fields.Node, "name", $"missing; give the {kind} a name such as {(kind == "job" ? "report" : "web")}");
                return null;
            }

            var name = r.Text(nameNode, "name", "web");
            if (name is null)
            {
                return null;
            }

            if (name.Trim().Length == 0)
            {
                r.Error(nameNode, "name", $"is empty; give the {kind} a name such as {(kind == "job" ? "report" : "web")}");
                return null;
            }

            if (!Names.IsValidDnsLabel(name))
            {
                var rule = name.Length > Names.MaxDnsLabelLength
                    ? $"names are at most {Names.MaxDnsLabelLength.ToString(CultureInfo.InvariantCulture)} characters"
                    : "names are lowercase letters, digits and '-', starting and ending with a letter or digit";
                var suggestion = Names.SuggestDnsLabel(name);
                r.Error(nameNode, "name", suggestion is not null
                    ? $"{SpecReader.Quote(name)} is not a valid name; {rule}; did you mean {SpecReader.Quote(suggestion)}?"
                    : $"{SpecReader.Quote(name)} is not a valid name; {rule}");
                return null;
            }

            return name;
        }

        private LoadBalancing ReadLoadBalancing(YamlNode? node)
        {
            if (node is null || r.Word(node, "loadBalancing", "a load-balancing policy", SpecSchema.LoadBalancingPolicies) is not { } word)
            {
                return SpecDefaults.LoadBalancing;
            }

            return word switch
            {
                "least-requests" => LoadBalancing.LeastRequests,
                "power-of-two-choices" => LoadBalancing.PowerOfTwoChoices,
                _ => LoadBalancing.RoundRobin,
            };
        }

        private UpdateStrategy ReadUpdate(YamlNode? node)
        {
            var update = new UpdateStrategy
            {
                MaxSurge = new IntOrPercent { Value = SpecDefaults.MaxSurge },
                MaxUnavailable = new IntOrPercent { Value = SpecDefaults.MaxUnavailable },
                MinReady = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(SpecDefaults.MinReady),
                ProgressDeadline = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(SpecDefaults.ProgressDeadline),
                OnFailure = OnFailure.Rollback,
            };
            if (node is null)
            {
                return update;
            }

            var fields = r.Map(node, "update", SpecSchema.UpdateFields, "{ maxSurge: 1, maxUnavailable: 0 }");
            if (fields is null)
            {
                return update;
            }

            var surgeOk = true;
            var unavailableOk = true;
            if (fields["maxSurge"] is { } surge)
            {
                var value = ReadIntOrPercent(surge, "update.maxSurge");
                surgeOk = value is not null;
                update.MaxSurge = value ?? update.MaxSurge;
            }

            if (fields["maxUnavailable"] is { } unavailable)
            {
                var value = ReadIntOrPercent(unavailable, "update.maxUnavailable");
                unavailableOk = value is not null;
                update.MaxUnavailable = value ?? update.MaxUnavailable;
            }

            if (surgeOk && unavailableOk && update.MaxSurge.Value == 0 && update.MaxUnavailable.Value == 0)
            {
                r.Error(fields["maxSurge"] ?? fields["maxUnavailable"] ?? node, "update",
                    "maxSurge and maxUnavailable cannot both be 0; the rollout could never make progress, raise maxSurge to start new replicas first or maxUnavailable to stop old ones first");
            }

            var minReadyNode = fields["minReady"];
            if (minReadyNode is not null && r.Duration(minReadyNode, "update.minReady", "10s") is { } minReady)
            {
                update.MinReady = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(minReady);
            }

            if (fields["progressDeadline"] is { } deadlineNode && r.Duration(deadlineNode, "update.progressDeadline", "2m") is { } deadline)
            {
                if (deadline <= update.MinReady.ToTimeSpan())
                {
                    r.Error(deadlineNode, "update.progressDeadline", deadline == TimeSpan.Zero
                        ? "0s would fail every rollout at once; write a duration such as 2m"
                        : $"{DurationText.Format(deadline)} is not longer than minReady {DurationText.Format(update.MinReady.ToTimeSpan())}; a replica must stay ready for minReady before the rollout progresses, raise progressDeadline");
                }

                update.ProgressDeadline = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(deadline);
            }
            else if (minReadyNode is not null && update.MinReady.ToTimeSpan() >= update.ProgressDeadline.ToTimeSpan())
            {
                r.Error(minReadyNode, "update.minReady", $"{DurationText.Format(update.MinReady.ToTimeSpan())} is not shorter than the progress deadline {DurationText.Format(update.ProgressDeadline.ToTimeSpan())}; every rollout would fail, set progressDeadline longer than minReady");
            }

            if (fields["onFailure"] is { } onFailure && r.Word(onFailure, "update.onFailure", "an action", SpecSchema.OnFailureActions) is { } action)
            {
                update.OnFailure = action == "pause" ? OnFailure.Pause : OnFailure.Rollback;
            }

            return update;
        }

        private IntOrPercent? ReadIntOrPercent(YamlNode node, string path)
        {
            if (node is not YamlScalarNode { Value: { } raw })
            {
                r.Error(node, path, $"expected a count or a percentage such as 1 or 25%; found {SpecReader.Describe(node)}");
                return null;
            }

            var text = raw.Trim();
            var percent = text.EndsWith('%');
            var number = percent ? text[..^1].Trim() : text;
            if (!int.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                r.Error(node, path, $"{SpecReader.Quote(raw)} is not a count or a percentage; write a whole number such as 1 or a percentage such as 25%");
                return null;
            }

            if (value < 0)
            {
                r.Error(node, path, $"{text} is negative; write 0 or more");
                return null;
            }

            if (percent && value > 100)
            {
                r.Error(node, path, $"{text} is more than 100%; write a percentage from 0% to 100%");
                return null;
            }

            return new IntOrPercent { Value = value, Percent = percent };
        }

        private static string? ServiceHint(string key) => key switch
        {
            "completions" or "parallelism" or "backoffLimit" =>
                "is a Job field; a service keeps its replicas running (use kind: Job for work that runs to completion)",
            _ => CommonHint(key),
        };

        private static string? JobHint(string key) => key switch
        {
            "replicas" => "is a Service field; a job runs completions (how many replicas must succeed) with parallelism (how many at once)",
            "update" => "is a Service field; a job does not roll out, remove update",
            "loadBalancing" => "is a Service field; a job is not behind the routing mesh, remove loadBalancing",
            _ => CommonHint(key),
        };

        private static string? CommonHint(string key) => key switch
        {
            "<<" => "YAML merge keys are not supported; write the fields out in each document",
            "apiVersion" or "metadata" or "spec" =>
                "is Kubernetes syntax; orc specs are flat: kind, name and the other fields at the top level (see docs/spec.md)",
            _ => null,
        };
    }
}
