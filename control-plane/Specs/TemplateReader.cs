using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.V1;
using YamlDotNet.RepresentationModel;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>Reads the replica template fields shared by services and jobs, applying defaults and cross-field rules.</summary>
internal sealed class TemplateReader(SpecReader r, bool isJob)
{
    private static readonly string[] ProbeChecks = ["http", "tcp", "exec"];

    private const string CommandExample = "[\"python3\", \"-m\", \"http.server\"]";

    /// <summary>The valid published ports read, with their nodes, for checks across the documents of a file.</summary>
    public List<(int Port, YamlNode Node, string Field)> Published { get; } = [];

    public ReplicaTemplate Read(Fields fields)
    {
        var template = new ReplicaTemplate
        {
            Resources = new Resources { CpuMillis = SpecDefaults.CpuMillis, MemoryBytes = SpecDefaults.MemoryBytes },
            Restart = isJob ? RestartPolicy.OnFailure : RestartPolicy.Always,
            StopGracePeriod = Duration.FromTimeSpan(SpecDefaults.StopGracePeriod),
            Placement = new Placement { Strategy = PlacementStrategy.Spread },
            Health = new HealthSpec(),
        };

        var driverNode = fields["driver"];
        var driver = driverNode is null ? null : r.Word(driverNode, "driver", "a driver", SpecSchema.Drivers);
        var imageNode = fields["image"];
        var image = imageNode is null ? null : ReadImage(imageNode);
        var commandNode = fields["command"];
        var command = commandNode is null ? null : r.TextList(commandNode, "command", CommandExample);
        if (fields["args"] is { } argsNode && r.TextList(argsNode, "args", "[\"--port\", \"${PORT}\"]") is { } args)
        {
            template.Args.AddRange(args);
        }

        ReadDriver(template, fields, driverNode, driver, imageNode, image, commandNode, command);

        if (fields["env"] is { } env)
        {
            ReadEnv(env, template.Env);
        }

        if (fields["resources"] is { } resources)
        {
            ReadResources(resources, template.Resources);
        }

        if (fields["ports"] is { } ports)
        {
            ReadPorts(ports, template.Ports, processDriver: template.Driver == Driver.Process);
        }

        if (fields["health"] is { } health)
        {
            ReadHealth(health, template.Health, template.Ports);
        }

        if (fields["restart"] is { } restartNode && r.Word(restartNode, "restart", "a restart policy", SpecSchema.RestartPolicies) is { } restart)
        {
            if (isJob && restart == "always")
            {
                r.Error(restartNode, "restart", "always is not allowed for a job; a job runs to completion, use on-failure or never");
            }

            template.Restart = restart switch
            {
                "always" => RestartPolicy.Always,
                "never" => RestartPolicy.Never,
                _ => RestartPolicy.OnFailure,
            };
        }

        if (fields["stopGracePeriod"] is { } graceNode && r.Duration(graceNode, "stopGracePeriod", "10s") is { } grace)
        {
            template.StopGracePeriod = Duration.FromTimeSpan(grace);
        }

        if (fields["placement"] is { } placement)
        {
            ReadPlacement(placement, template.Placement);
        }

        return template;
    }

    private string? ReadImage(YamlNode node)
    {
        var image = r.Text(node, "image", "nginx:1.27");
        if (image is null)
        {
            return null;
        }

        if (image.Length == 0 || image.Any(char.IsWhiteSpace))
        {
            var words = image.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            r.Error(node, "image", words.Length == 2 && !words[0].Contains(':', StringComparison.Ordinal)
                ? $"{SpecReader.Quote(image)} is not an image reference; a tag follows a colon, did you mean {words[0]}:{words[1]}?"
                : $"{SpecReader.Quote(image)} is not an image reference; write one such as nginx:1.27 (no spaces)");
            return null;
        }

        // [registry[:port]/]path[:tag][@digest]; Docker refuses upper case in the path.
        var digestAt = image.IndexOf('@', StringComparison.Ordinal);
        var named = digestAt >= 0 ? image[..digestAt] : image;
        var tagAt = named.LastIndexOf(':');
        if (tagAt <= named.LastIndexOf('/'))
        {
            tagAt = -1;
        }

        var repository = tagAt >= 0 ? named[..tagAt] : named;
        if (tagAt == named.Length - 1)
        {
            r.Error(node, "image", $"{SpecReader.Quote(image)} has an empty tag; write a tag such as {repository}:latest or remove the colon");
            return null;
        }

        var parts = repository.Split('/');
        var first = parts.Length > 1 && (parts[0].Contains('.', StringComparison.Ordinal) || parts[0].Contains(':', StringComparison.Ordinal) || parts[0] == "localhost") ? 1 : 0;
        if (parts.Skip(first).Any(p => p.Any(char.IsUpper)))
        {
            var lowered = string.Join('/', parts.Select((p, i) => i < first ? p : p.ToLowerInvariant())) + image[repository.Length..];
            r.Error(node, "image", $"{SpecReader.Quote(image)} is not an image reference; repository names are lower case; did you mean {lowered}?");
            return null;
        }

        return image;
    }

    private void ReadDriver(
        ReplicaTemplate template, Fields fields, YamlNode? driverNode, string? driver,
        YamlNode? imageNode, string? image, YamlNode? commandNode, List<string>? command)
    {
        if (command is not null)
        {
            template.Command.AddRange(command);
        }

        if (image is not null)
        {
            template.Image = image;
        }

        var hasImage = imageNode is not null;
        var hasCommand = commandNode is not null && (command is null || command.Count > 0);
        if (driverNode is not null && driver is null)
        {
            return; // already reported: the driver word is wrong
        }

        if (driver is null)
        {
            if (!hasImage && !hasCommand)
            {
                r.Error(fields.Node, "image", "missing; set image (such as nginx:1.27) to run a container, or command (such as " + CommandExample + ") to run a host process");
                return;
            }

            driver = hasImage ? "docker" : "process";
        }

        if (driver == "docker")
        {
            template.Driver = Driver.Docker;
            if (!hasImage)
            {
                r.Error(driverNode ?? fields.Node, "image", "missing; docker replicas run an image, set image: nginx:1.27 (or driver: process to run the command on the host)");
            }

            return;
        }

        template.Driver = Driver.Process;
        if (hasImage)
        {
            r.Error(imageNode!, "image", "process replicas run a host command; remove image or set driver: docker");
        }

        if (!hasCommand)
        {
            r.Error(commandNode ?? driverNode ?? fields.Node, "command", commandNode is null
                ? $"missing; process replicas run a host command, set command: {CommandExample}"
                : $"is empty; process replicas run a host command, set command: {CommandExample}");
        }
    }

    private void ReadEnv(YamlNode node, Google.Protobuf.Collections.MapField<string, string> env)
    {
        if (node is not YamlMappingNode mapping)
        {
            var hint = node is YamlSequenceNode ? " (a list of NAME=value is compose syntax; write NAME: value lines)" : "";
            r.Error(node, "env", $"expected a mapping of names to values such as {{ GREETING: hello }}; found {SpecReader.Describe(node)}{hint}");
            return;
        }

        // Stored in name order, so the same variables in another order make the same template (and hash).
        var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } name } || SpecReader.IsNull(keyNode))
            {
                r.Error(keyNode, "env", $"a variable name must be plain text; found {SpecReader.Describe(keyNode)}");
                continue;
            }

            var path = "env." + name;
            if (!Names.IsValidEnvName(name))
            {
                var suggestion = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
                if (suggestion.Length > 0 && char.IsAsciiDigit(suggestion[0]))
                {
                    suggestion = "_" + suggestion;
                }

                r.Error(keyNode, path, $"{SpecReader.Quote(name)} is not a variable name; names are letters, digits and '_', not starting with a digit; did you mean {suggestion}?");
                continue;
            }

            if (name == "PORT" || name.StartsWith("PORT_", StringComparison.Ordinal) || name.StartsWith("ORC_", StringComparison.Ordinal))
            {
                r.Error(keyNode, path, "is set by the orchestrator for every replica (PORT, PORT_<NAME> and ORC_*); remove it or choose another name");
                continue;
            }

            if (value is YamlScalarNode scalar && !SpecReader.IsNull(scalar))
            {
                sorted[name] = scalar.Value ?? "";
            }
            else if (SpecReader.IsNull(value))
            {
                r.Error(keyNode, path, $"has no value; write {name}: \"\" for an empty value, or remove it");
            }
            else
            {
                r.Error(value, path, $"expected text; found {SpecReader.Describe(value)} (quote it to pass it as text)");
            }
        }

        env.Add(sorted);
    }

    private void ReadResources(YamlNode node, Resources resources)
    {
        var fields = r.Map(node, "resources", SpecSchema.ResourceFields, "{ cpu: 250m, memory: 128Mi }");
        if (fields is null)
        {
            return;
        }

        if (fields["cpu"] is { } cpuNode && r.Text(cpuNode, "resources.cpu", "250m") is { } cpuText)
        {
            if (!Quantity.TryParseCpu(cpuText, out var millis, out var error))
            {
                r.Error(cpuNode, "resources.cpu", error);
            }
            else if (millis == 0)
            {
                r.Error(cpuNode, "resources.cpu", "0 leaves the replica no cpu; write at least 1m, such as 100m");
            }
            else if (millis > SpecDefaults.MaxCpuMillis)
            {
                var plain = cpuText.Trim();
                var suggestion = long.TryParse(plain, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? $"; did you mean {plain}m?" : $"; write at most {Quantity.FormatCpu(SpecDefaults.MaxCpuMillis)}";
                r.Error(cpuNode, "resources.cpu", $"{plain} means {Quantity.FormatCpu(millis)} cores, more than a replica may ask for (at most {Quantity.FormatCpu(SpecDefaults.MaxCpuMillis)}){suggestion}");
            }
            else
            {
                resources.CpuMillis = millis;
            }
        }

        if (fields["memory"] is { } memoryNode && r.Text(memoryNode, "resources.memory", "128Mi") is { } memoryText)
        {
            if (!Quantity.TryParseMemory(memoryText, out var bytes, out var error))
            {
                r.Error(memoryNode, "resources.memory", error);
            }
            else if (bytes < SpecDefaults.MinMemoryBytes)
            {
                var plain = memoryText.Trim();
                var suggestion = long.TryParse(plain, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? $"; did you mean {plain}Mi?" : "; write at least 4Mi";
                r.Error(memoryNode, "resources.memory", $"{plain} is {bytes.ToString(CultureInfo.InvariantCulture)} bytes, too little for any replica to start (at least 4Mi){suggestion}");
            }
            else if (bytes > SpecDefaults.MaxMemoryBytes)
            {
                r.Error(memoryNode, "resources.memory", $"{memoryText.Trim()} is more memory than any node has (at most {Quantity.FormatMemory(SpecDefaults.MaxMemoryBytes)}); write a size such as 512Mi or 4Gi");
            }
            else
            {
                resources.MemoryBytes = bytes;
            }
        }
    }

    private void ReadPorts(YamlNode node, Google.Protobuf.Collections.RepeatedField<PortSpec> ports, bool processDriver)
    {
        if (node is not YamlSequenceNode sequence)
        {
            r.Error(node, "ports", $"expected a list such as [{{ name: http, port: 8080 }}]; found {SpecReader.Describe(node)}");
            return;
        }

        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        var byPort = new Dictionary<int, int>();
        var byPublished = new Dictionary<int, int>();
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var path = $"ports[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (item is YamlScalarNode { Value: { } shorthand } && !SpecReader.IsNull(item))
            {
                var parts = shorthand.Split(':');
                r.Error(item, path, parts.Length == 2
                    ? $"{SpecReader.Quote(shorthand)} is compose syntax; write {{ port: {parts[1].Trim()}, published: {parts[0].Trim()} }}"
                    : $"{shorthand} is not a port entry; write {{ name: http, port: {shorthand.Trim()} }}");
                continue;
            }

            var fields = r.Map(item, path, SpecSchema.PortFields, "{ name: http, port: 8080 }");
            if (fields is null)
            {
                continue;
            }

            var port = new PortSpec { Protocol = Protocol.Http };
            if (fields["protocol"] is { } protocolNode && r.Word(protocolNode, path + ".protocol", "a protocol", SpecSchema.Protocols) is { } protocol)
            {
                port.Protocol = protocol == "tcp" ? Protocol.Tcp : Protocol.Http;
            }

            if (fields["name"] is { } nameNode)
            {
                var name = r.Text(nameNode, path + ".name", "http");
                if (name is not null && !Names.IsValidDnsLabel(name))
                {
                    var suggestion = Names.SuggestDnsLabel(name);
                    r.Error(nameNode, path + ".name", $"{SpecReader.Quote(name)} is not a valid port name; names are lowercase letters, digits and '-'" +
                        (suggestion is null ? "" : $"; did you mean {SpecReader.Quote(suggestion)}?"));
                }
                else if (name is not null)
                {
                    port.Name = name;
                    if (byName.TryGetValue(name, out var first))
                    {
                        r.Error(nameNode, path + ".name", $"{SpecReader.Quote(name)} is already used by ports[{first.ToString(CultureInfo.InvariantCulture)}]; give each port its own name");
                    }
                    else
                    {
                        byName[name] = i;
                    }
                }
            }
            else if (i == 0)
            {
                port.Name = port.Protocol == Protocol.Tcp ? "tcp" : "http";
                byName[port.Name] = i;
            }
            else
            {
                r.Error(fields.Node, path + ".name", "missing; every port after the first needs a name (it is used in PORT_<NAME> and by probes), such as name: metrics");
            }

            if (fields["port"] is { } portNode)
            {
                if (r.Int(portNode, path + ".port", 1, 65535, "a port number from 1 to 65535, such as 8080") is { } number)
                {
                    port.Port = number;
                    if (byPort.TryGetValue(number, out var first))
                    {
                        r.Error(portNode, path + ".port", $"{number.ToString(CultureInfo.InvariantCulture)} is already used by ports[{first.ToString(CultureInfo.InvariantCulture)}]; each port entry listens on its own port");
                    }
                    else
                    {
                        byPort[number] = i;
                    }
                }
            }
            else if (!processDriver)
            {
                // A process replica listens on the host port it is given in PORT/PORT_<NAME>; a container
                // listens on its own port, which the node maps the host port to.
                r.Error(fields.Node, path + ".port", "missing; write the port the container listens on, such as port: 8080");
            }

            if (fields["published"] is { } publishedNode)
            {
                if (isJob)
                {
                    r.Error(publishedNode, path + ".published", "a job is not behind the routing mesh; remove published (jobs may declare ports, not publish them)");
                }
                else if (r.Int(publishedNode, path + ".published", 1, 65535, "a port number from 1 to 65535, such as 8080") is { } published)
                {
                    port.Published = published;
                    if (byPublished.TryGetValue(published, out var first))
                    {
                        r.Error(publishedNode, path + ".published", $"{published.ToString(CultureInfo.InvariantCulture)} is already published by ports[{first.ToString(CultureInfo.InvariantCulture)}]; use a different port");
                    }
                    else
                    {
                        byPublished[published] = i;
                        Published.Add((published, publishedNode, path + ".published"));
                    }
                }
            }

            ports.Add(port);
        }
    }

    private void ReadHealth(YamlNode node, HealthSpec health, IReadOnlyList<PortSpec> ports)
    {
        var fields = r.Map(node, "health", SpecSchema.HealthFields, "{ readiness: { http: / } }");
        if (fields is null)
        {
            return;
        }

        if (fields["readiness"] is { } readiness)
        {
            health.Readiness = ReadProbe(readiness, "health.readiness", SpecDefaults.ReadinessInterval, ports, liveness: false);
        }

        if (fields["liveness"] is { } liveness)
        {
            health.Liveness = ReadProbe(liveness, "health.liveness", SpecDefaults.LivenessInterval, ports, liveness: true);
        }
    }

    private Probe ReadProbe(YamlNode node, string path, TimeSpan defaultInterval, IReadOnlyList<PortSpec> ports, bool liveness)
    {
        var probe = new Probe
        {
            FailureThreshold = SpecDefaults.FailureThreshold,
            SuccessThreshold = SpecDefaults.SuccessThreshold,
            InitialDelay = Duration.FromTimeSpan(TimeSpan.Zero),
        };
        var fields = r.Map(node, path, SpecSchema.ProbeFields, "{ http: /healthz }");
        if (fields is null)
        {
            return probe;
        }

        var declared = ports.Where(p => p.Name.Length > 0).Select(p => p.Name).ToList();
        var checks = ProbeChecks.Where(c => fields[c] is not null).ToList();
        if (checks.Count == 0)
        {
            r.Error(node, path, "sets no check; add one of http: /path, tcp: <port name> or exec: [command]");
        }
        else if (checks.Count > 1)
        {
            var list = checks.Count == 2 ? $"both {checks[0]} and {checks[1]}" : "http, tcp and exec";
            r.Error(node, path, $"sets {list}; a probe checks one way, keep one");
        }

        var portNode = fields["port"];
        if (fields["http"] is { } httpNode && r.Text(httpNode, path + ".http", "/healthz") is { } http)
        {
            if (!http.StartsWith('/'))
            {
                r.Error(httpNode, path + ".http", $"{SpecReader.Quote(http)} is not a path; write /{http.TrimStart('/')}");
            }

            probe.Http = http;
            if (portNode is null)
            {
                if (declared.Count == 0)
                {
                    r.Error(httpNode, path + ".http", "needs a port to call and none is declared; add ports: [{ name: http, port: 8080 }] or use exec");
                }
                else
                {
                    probe.Port = declared[0];
                }
            }
        }

        if (portNode is not null)
        {
            if (checks.Count == 1 && checks[0] != "http")
            {
                r.Error(portNode, path + ".port", checks[0] == "tcp"
                    ? "only http probes take a port; a tcp probe names its port in tcp:, remove port"
                    : "only http probes take a port; remove port");
            }
            else if (r.Text(portNode, path + ".port", "http") is { } portName)
            {
                if (CheckPortName(portNode, path + ".port", portName, ports, declared))
                {
                    probe.Port = portName;
                }
            }
        }

        if (fields["tcp"] is { } tcpNode && r.Text(tcpNode, path + ".tcp", "http") is { } tcp)
        {
            if (CheckPortName(tcpNode, path + ".tcp", tcp, ports, declared))
            {
                probe.Tcp = tcp;
            }
        }

        if (fields["exec"] is { } execNode && r.TextList(execNode, path + ".exec", "[\"cat\", \"/tmp/ready\"]") is { } exec)
        {
            if (exec.Count == 0)
            {
                r.Error(execNode, path + ".exec", "is empty; write the command to run, such as [\"cat\", \"/tmp/ready\"]");
            }

            probe.Exec = new ExecAction();
            probe.Exec.Command.AddRange(exec);
        }

        var interval = defaultInterval;
        var intervalNode = fields["interval"];
        if (intervalNode is not null && r.Duration(intervalNode, path + ".interval", "2s") is { } i)
        {
            if (i == TimeSpan.Zero)
            {
                r.Error(intervalNode, path + ".interval", "0s would check without pause; write a duration such as 2s");
            }

            interval = i;
        }

        probe.Interval = Duration.FromTimeSpan(interval);
        var timeout = interval < SpecDefaults.ProbeTimeout && interval > TimeSpan.Zero ? interval : SpecDefaults.ProbeTimeout;
        if (fields["timeout"] is { } timeoutNode && r.Duration(timeoutNode, path + ".timeout", "1s") is { } t)
        {
            if (t == TimeSpan.Zero)
            {
                r.Error(timeoutNode, path + ".timeout", "0s leaves a check no time; write a duration such as 1s");
            }
            else if (t > interval && interval > TimeSpan.Zero)
            {
                r.Error(timeoutNode, path + ".timeout", $"{DurationText.Format(t)} is longer than the interval {DurationText.Format(interval)}; a check must finish before the next one starts, lower timeout or raise interval");
            }

            timeout = t;
        }

        probe.Timeout = Duration.FromTimeSpan(timeout);
        if (fields["initialDelay"] is { } delayNode && r.Duration(delayNode, path + ".initialDelay", "5s") is { } delay)
        {
            probe.InitialDelay = Duration.FromTimeSpan(delay);
        }

        if (fields["failureThreshold"] is { } failureNode && r.Int(failureNode, path + ".failureThreshold", 1, 1000, "a count such as 3") is { } failures)
        {
            probe.FailureThreshold = failures;
        }

        if (fields["successThreshold"] is { } successNode && r.Int(successNode, path + ".successThreshold", 1, 1000, "a count such as 1") is { } successes)
        {
            if (liveness && successes != 1)
            {
                r.Error(successNode, path + ".successThreshold", $"{successes.ToString(CultureInfo.InvariantCulture)} is not allowed for liveness; one success proves a replica alive, write 1 or remove it");
            }

            probe.SuccessThreshold = successes;
        }

        return probe;
    }

    private bool CheckPortName(YamlNode node, string path, string name, IReadOnlyList<PortSpec> ports, List<string> declared)
    {
        if (declared.Contains(name, StringComparer.Ordinal))
        {
            return true;
        }

        var byNumber = int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? ports.FirstOrDefault(p => p.Port == number && p.Name.Length > 0)
            : null;
        if (byNumber is not null)
        {
            r.Error(node, path, $"{name} is a port number; name the port instead: {byNumber.Name}");
        }
        else if (declared.Count == 0)
        {
            r.Error(node, path, $"{SpecReader.Quote(name)} is not a declared port and none is declared; add ports: [{{ name: {name}, port: 8080 }}]");
        }
        else
        {
            var close = Suggest.Closest(name, declared);
            r.Error(node, path, $"{SpecReader.Quote(name)} is not a declared port; " +
                (close is not null ? $"did you mean {close}?" : $"the declared ports are {string.Join(", ", declared)}"));
        }

        return false;
    }

    private void ReadPlacement(YamlNode node, Placement placement)
    {
        var fields = r.Map(node, "placement", SpecSchema.PlacementFields, "{ constraints: [\"zone == a\"], strategy: spread }");
        if (fields is null)
        {
            return;
        }

        if (fields["constraints"] is { } constraintsNode)
        {
            if (constraintsNode is YamlScalarNode single)
            {
                r.Error(single, "placement.constraints", $"{SpecReader.Describe(single)} is text; write a list such as [{SpecReader.Describe(single)}]");
            }
            else if (r.TextList(constraintsNode, "placement.constraints", "[\"zone == a\"]") is { } texts)
            {
                var items = ((YamlSequenceNode)constraintsNode).Children;
                for (var i = 0; i < texts.Count; i++)
                {
                    if (ConstraintText.TryParse(texts[i], out var constraint, out var error))
                    {
                        placement.Constraints.Add(constraint);
                    }
                    else
                    {
                        r.Error(items[i], $"placement.constraints[{i.ToString(CultureInfo.InvariantCulture)}]", error);
                    }
                }
            }
        }

        if (fields["strategy"] is { } strategyNode && r.Word(strategyNode, "placement.strategy", "a strategy", SpecSchema.Strategies) is { } strategy)
        {
            placement.Strategy = strategy == "binpack" ? PlacementStrategy.Binpack : PlacementStrategy.Spread;
        }

        if (fields["maxPerNode"] is { } maxNode && r.Int(maxNode, "placement.maxPerNode", 0, SpecDefaults.MaxReplicas, "a count such as 1 (0 means no limit)") is { } max)
        {
            placement.MaxPerNode = max;
        }

        if (fields["spreadBy"] is { } spreadNode && r.Text(spreadNode, "placement.spreadBy", "zone") is { } spreadBy)
        {
            if (!Names.IsValidLabelKey(spreadBy))
            {
                r.Error(spreadNode, "placement.spreadBy", $"{SpecReader.Quote(spreadBy)} is not a label key; write a node label key such as zone");
            }
            else
            {
                placement.SpreadBy = spreadBy;
            }
        }
    }
}
