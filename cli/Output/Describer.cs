using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>Related objects shown under a described object: its revisions, replicas and recent events.</summary>
public sealed record DescribeExtras(
    IReadOnlyList<ServiceRevision> Revisions,
    IReadOnlyList<Replica> Replicas,
    IReadOnlyList<Event> Events)
{
    public static DescribeExtras None { get; } = new([], [], []);
}

/// <summary>The text of <c>orc describe</c> for each kind.</summary>
public static class Describer
{
    public static string Describe(V1.Object item, DescribeExtras extras, DateTimeOffset now) => item.KindCase switch
    {
        V1.Object.KindOneofCase.Service => Service(item.Service, extras, now),
        V1.Object.KindOneofCase.Job => Job(item.Job, extras, now),
        V1.Object.KindOneofCase.Node => Node(item.Node, extras, now),
        V1.Object.KindOneofCase.Replica => Replica(item.Replica, extras, now),
        V1.Object.KindOneofCase.Endpoints => Endpoints(item.Endpoints, now),
        V1.Object.KindOneofCase.Event => Event(item.Event, now),
        _ => YamlOutput.Format(JsonOutput.Inner(item)),
    };

    public static string Service(Service s, DescribeExtras extras, DateTimeOffset now)
    {
        var spec = s.Spec ?? new ServiceSpec();
        var status = s.Status ?? new ServiceStatus();
        var w = new DescribeWriter()
            .Field("Name", spec.Name.Length > 0 ? spec.Name : s.Meta?.Name)
            .Field("Kind", "Service");
        Meta(w, s.Meta, now);
        w.Field("Revision", Num(s.Revision))
            .Field("Replicas", $"{spec.Replicas} desired, {status.Replicas} current, {status.ReadyReplicas} ready, {status.UpdatedReplicas} updated")
            .Field("Rollout", status.Rollout == RolloutState.Unspecified && status.ObservedGeneration == 0
                ? "not reported yet (no controller has acted on this service)"
                : Reasoned(Humanize.Rollout(status.Rollout), status.Reason, status.Message))
            .Field("Observed", status.ObservedGeneration == (s.Meta?.Generation ?? 0)
                ? $"generation {status.ObservedGeneration} (up to date)"
                : $"generation {status.ObservedGeneration} (spec is at {s.Meta?.Generation ?? 0}; the controller has not caught up yet)");
        if (spec.Paused)
        {
            w.Field("Paused", $"yes (orc rollout resume {spec.Name} goes on)");
        }

        if (status.StableRevision != 0 && status.StableRevision != s.Revision)
        {
            w.Field("Stable revision", $"{Num(status.StableRevision)} (the last one rolled out completely; a failure goes back to it)");
        }

        if (status.FailedRevision != 0)
        {
            w.Field("Failed revision", Num(status.FailedRevision));
        }

        Template(w, spec.Template);
        var update = spec.Update ?? new UpdateStrategy();
        w.Section("Update strategy", u => u
            .Field("Max surge", IntOrPercent(update.MaxSurge))
            .Field("Max unavailable", IntOrPercent(update.MaxUnavailable))
            .Field("Min ready", Humanize.SpecDuration(update.MinReady))
            .Field("Progress deadline", Humanize.SpecDuration(update.ProgressDeadline))
            .Field("On failure", update.OnFailure switch
            {
                OnFailure.Rollback => "rollback",
                OnFailure.Pause => "pause",
                _ => Humanize.None,
            }));
        w.Table("Revisions", ["REVISION", "CAUSE", "CREATED", "IMAGE/COMMAND"], extras.Revisions.Select(r => (IReadOnlyList<string>)
        [
            Num(r.Revision) + (r.Revision == s.Revision ? " (current)" : ""),
            r.Cause.Length > 0 ? r.Cause : Humanize.None,
            Ago(r.CreatedAt, now),
            Humanize.Workload(r.Template),
        ]).ToList());
        ReplicasAndEvents(w, extras, now);
        return w.ToString();
    }

    public static string Job(Job j, DescribeExtras extras, DateTimeOffset now)
    {
        var spec = j.Spec ?? new JobSpec();
        var status = j.Status ?? new JobStatus();
        var w = new DescribeWriter()
            .Field("Name", spec.Name.Length > 0 ? spec.Name : j.Meta?.Name)
            .Field("Kind", "Job");
        Meta(w, j.Meta, now);
        w.Field("State", Reasoned(Humanize.JobState(status.State), status.Reason, status.Message))
            .Field("Completions", $"{status.Succeeded}/{spec.Completions} succeeded, {status.Active} active, {status.Failed} failed")
            .Field("Parallelism", Num(spec.Parallelism))
            .Field("Backoff limit", Num(spec.BackoffLimit))
            .Field("Started", Timestamp(status.StartedAt, now))
            .Optional("Completed", status.CompletedAt is null ? null : Timestamp(status.CompletedAt, now))
            .Field("Duration", ObjectTables.JobDuration(status, now))
            .Optional("Next retry", status.NextRetryAt is { } retry && retry.ToDateTimeOffset() > now ? $"in {Humanize.Duration(retry.ToDateTimeOffset() - now)}" : null);
        Template(w, spec.Template);

        // Every try the job started, from its status: replicas deleted after their retention still show here.
        var live = extras.Replicas.ToDictionary(r => r.Meta?.Name ?? "", StringComparer.Ordinal);
        w.Table("Replicas", ["ID", "COMPLETION", "NODE", "PHASE", "EXIT CODE", "AGE", "MESSAGE"], status.Replicas
            .OrderBy(r => r.Ordinal)
            .ThenBy(r => r.CreatedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue)
            .Select(r => (IReadOnlyList<string>)
            [
                r.Replica + (live.ContainsKey(r.Replica) ? "" : " (deleted)"),
                Num(r.Ordinal),
                r.Node.Length > 0 ? r.Node : Humanize.None,
                Humanize.Phase(r.Phase) + (r.Stopped ? " (stopped)" : ""),
                r.Phase is Phase.Succeeded or Phase.Failed ? Num(r.ExitCode) : Humanize.None,
                Humanize.Age(r.CreatedAt, now),
                r.Message.Length > 0 ? r.Message : Humanize.None,
            ]).ToList());
        w.Table("Events", ["TIME", "TYPE", "OBJECT", "REASON", "MESSAGE"], extras.Events
            .OrderBy(e => e.Time?.ToDateTimeOffset() ?? DateTimeOffset.MinValue)
            .Select(e => (IReadOnlyList<string>)[Humanize.Age(e.Time, now), Humanize.EventType(e.Type), Humanize.Ref(e.Object), e.Reason, e.Message])
            .ToList());
        return w.ToString();
    }

    /// <summary>"no", or since when and how far the drain got.</summary>
    private static string Drain(Node n, DateTimeOffset now)
    {
        if (n.Spec?.Draining != true)
        {
            return "no";
        }

        var status = n.Status ?? new NodeStatus();
        var since = n.Spec.DrainStartedAt is null ? "" : $" (started {Ago(n.Spec.DrainStartedAt, now)})";
        return status.DrainCompletedAt is not null
            ? $"done{since}: no replica is left on it"
            : $"yes{since}: {status.DrainRemaining} replica(s) left";
    }

    public static string Node(Node n, DescribeExtras extras, DateTimeOffset now)
    {
        var info = n.Info ?? new NodeInfo();
        var status = n.Status ?? new NodeStatus();
        var w = new DescribeWriter()
            .Field("Name", n.Meta?.Name)
            .Field("Kind", "Node");
        Meta(w, n.Meta, now);
        w.Field("State", Reasoned(Humanize.NodeState(status.State), status.Reason, status.Message))
            .Field("Cordoned", n.Spec?.Cordoned == true || n.Spec?.Draining == true ? "yes (no new replicas are placed here)" : "no")
            .Field("Draining", Drain(n, now))
            .Field("Address", info.Address)
            .Field("Labels", Pairs(info.Labels))
            .Field("Drivers", info.Drivers.Count == 0 ? Humanize.None : string.Join(", ", info.Drivers.Select(Humanize.Driver)))
            .Field("Ports", info.Ports is null ? Humanize.None : $"{info.Ports.First}-{info.Ports.Last}")
            .Field("Last heartbeat", Ago(status.LastHeartbeat, now))
            .Field("Connected to", status.ConnectedTo)
            .Field("Endpoints", status.EndpointsAckedVersion > 0 ? $"version {Num(status.EndpointsAckedVersion)} applied (acknowledged by the agent)" : Humanize.None)
            .Field("Agent", info.AgentVersion)
            .Field("OS", info.Os)
            .Field("Memory limits", info.MemoryEnforcement);
        w.Section("Resources", r => r
            .Field("Capacity", Resources(info.Capacity))
            .Field("Allocatable", Resources(info.Allocatable))
            .Field("Allocated", Resources(status.Allocated) + Percent(status.Allocated, info.Allocatable)));
        ReplicasAndEvents(w, extras, now);
        return w.ToString();
    }

    public static string Replica(Replica r, DescribeExtras extras, DateTimeOffset now)
    {
        var spec = r.Spec ?? new ReplicaSpec();
        var status = r.Status ?? new ReplicaStatus();
        var w = new DescribeWriter()
            .Field("Name", r.Meta?.Name)
            .Field("Kind", "Replica");
        Meta(w, r.Meta, now);
        w.Field("Owner", Humanize.Owner(spec.Owner))
            .Field("Revision", Num(spec.Revision))
            .Field("Node", spec.Node)
            .Field("Desired", spec.Desired switch
            {
                DesiredState.Run => "run",
                DesiredState.Drain => "drain",
                DesiredState.Stop => "stop",
                _ => Humanize.None,
            })
            .Field("Phase", Reasoned(Humanize.Phase(status.Phase), status.Reason, status.Message))
            .Field("Restarts", Num(status.Restarts))
            .Optional("Exit code", status.Phase is Phase.Failed or Phase.Succeeded ? Num(status.ExitCode) : null)
            .Field("Endpoints", status.Endpoints.Count == 0 ? Humanize.None : string.Join(", ", status.Endpoints.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value.Address}:{e.Value.Port}")))
            .Field("Host ports", spec.HostPorts.Count == 0 ? Humanize.None : string.Join(", ", spec.HostPorts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")))
            .Optional("Started", status.StartedAt is null ? null : Timestamp(status.StartedAt, now))
            .Optional("Ready since", status.ReadyAt is null ? null : Timestamp(status.ReadyAt, now))
            .Optional("Finished", status.FinishedAt is null ? null : Timestamp(status.FinishedAt, now))
            .Optional("Next retry", status.NextRetryAt is null ? null : Timestamp(status.NextRetryAt, now));
        var placement = status.Placement;
        w.Section("Placement", p =>
        {
            if (placement is null)
            {
                p.Field("Decision", spec.Node.Length > 0 ? "no explanation recorded" : "not scheduled yet");
                return;
            }

            p.Optional("Summary", placement.Message)
                .Field("Decided", Ago(placement.DecidedAt, now))
                .Field("Nodes", $"{placement.NodesFeasible} of {placement.NodesTotal} feasible")
                .Field("Rejected", placement.Rejected.Count == 0 ? Humanize.None : string.Join(", ", placement.Rejected.Select(x => $"{x.Rule}: {x.Nodes} node{(x.Nodes == 1 ? "" : "s")}")))
                .Field("Chosen", placement.Chosen is null ? Humanize.None : Score(placement.Chosen))
                .Field("Alternatives", placement.Alternatives.Count == 0 ? Humanize.None : string.Join("\n", placement.Alternatives.Select(Score)));
        });
        Template(w, spec.Template);
        w.Table("Events", ["TIME", "TYPE", "REASON", "MESSAGE"], EventRows(extras.Events, now));
        return w.ToString();
    }

    public static string Endpoints(ServiceEndpoints e, DateTimeOffset now)
    {
        var w = new DescribeWriter()
            .Field("Service", e.Service)
            .Field("Kind", "Endpoints")
            .Field("Version", Num(e.Version))
            .Field("Changed", Timestamp(e.ChangedAt, now));
        w.Table("Ports", ["PORT", "PUBLISHED", "PROTOCOL", "REPLICA", "NODE", "ENDPOINT"], e.Ports.SelectMany(p =>
            p.Endpoints.Count == 0
                ? [[p.Port, p.Published > 0 ? Num(p.Published) : Humanize.None, Humanize.Protocol(p.Protocol), Humanize.None, Humanize.None, Humanize.None]]
                : p.Endpoints.Select(x => (IReadOnlyList<string>)
                [
                    p.Port,
                    p.Published > 0 ? Num(p.Published) : Humanize.None,
                    Humanize.Protocol(p.Protocol),
                    x.Replica,
                    x.Node,
                    $"{x.Endpoint?.Address}:{x.Endpoint?.Port}",
                ])).ToList());
        return w.ToString();
    }

    public static string Event(Event e, DateTimeOffset now) => new DescribeWriter()
        .Field("Id", e.Id)
        .Field("Kind", "Event")
        .Field("Time", Timestamp(e.Time, now))
        .Field("Object", Humanize.Ref(e.Object))
        .Field("Type", Humanize.EventType(e.Type))
        .Field("Reason", e.Reason)
        .Field("Source", e.Source)
        .Field("Message", e.Message)
        .ToString();

    private static void Meta(DescribeWriter w, ObjectMeta? meta, DateTimeOffset now)
    {
        if (meta is null)
        {
            return;
        }

        w.Field("Created", Timestamp(meta.CreatedAt, now))
            .Field("Generation", Num(meta.Generation))
            .Optional("Labels", meta.Labels.Count == 0 ? null : Pairs(meta.Labels));
    }

    private static void Template(DescribeWriter w, ReplicaTemplate? template)
    {
        var t = template ?? new ReplicaTemplate();
        w.Section("Template", s =>
        {
            s.Field("Driver", Humanize.Driver(t.Driver))
                .Optional("Image", t.Image)
                .Optional("Command", t.Command.Count == 0 ? null : Humanize.Words(t.Command))
                .Optional("Args", t.Args.Count == 0 ? null : Humanize.Words(t.Args))
                .Field("Env", Pairs(t.Env))
                .Field("Resources", Resources(t.Resources))
                .Field("Ports", t.Ports.Count == 0 ? Humanize.None : string.Join("\n", t.Ports.Select(Port)))
                .Field("Readiness", Probe(t.Health?.Readiness))
                .Field("Liveness", Probe(t.Health?.Liveness))
                .Field("Restart", t.Restart switch
                {
                    RestartPolicy.Always => "always",
                    RestartPolicy.OnFailure => "on-failure",
                    RestartPolicy.Never => "never",
                    _ => Humanize.None,
                })
                .Field("Stop grace", Humanize.SpecDuration(t.StopGracePeriod))
                .Field("Placement", Placement(t.Placement));
        });
    }

    private static void ReplicasAndEvents(DescribeWriter w, DescribeExtras extras, DateTimeOffset now)
    {
        w.Table("Replicas", ["ID", "NODE", "PHASE", "RESTARTS", "ENDPOINT", "AGE"], extras.Replicas.Select(r => (IReadOnlyList<string>)
        [
            r.Meta?.Name ?? "",
            r.Spec?.Node is { Length: > 0 } node ? node : Humanize.None,
            Humanize.Phase(r.Status?.Phase ?? Phase.Unspecified) + (r.Status?.Reason is { Length: > 0 } reason ? $" ({reason})" : ""),
            Num(r.Status?.Restarts ?? 0),
            Humanize.Endpoints(r.Status?.Endpoints ?? []),
            Humanize.Age(r.Meta?.CreatedAt, now),
        ]).ToList());
        w.Table("Events", ["TIME", "TYPE", "REASON", "MESSAGE"], EventRows(extras.Events, now));
    }

    private static List<IReadOnlyList<string>> EventRows(IEnumerable<Event> events, DateTimeOffset now) =>
        events.OrderBy(e => e.Time?.ToDateTimeOffset() ?? DateTimeOffset.MinValue).Select(e => (IReadOnlyList<string>)
        [
            Humanize.Age(e.Time, now),
            Humanize.EventType(e.Type),
            e.Reason,
            e.Message,
        ]).ToList();

    private static string Port(PortSpec p) =>
        $"{(p.Name.Length > 0 ? p.Name : "(unnamed)")}: " +
        (p.Port > 0 ? $"{p.Port}/{Humanize.Protocol(p.Protocol)}" : $"the host port in PORT, {Humanize.Protocol(p.Protocol)}") +
        (p.Published > 0 ? $", published on every node at {p.Published}" : "");

    private static string Probe(Probe? p)
    {
        if (p is null || p.CheckCase == V1.Probe.CheckOneofCase.None)
        {
            return Humanize.None;
        }

        var check = p.CheckCase switch
        {
            V1.Probe.CheckOneofCase.Http => $"http GET {p.Http}" + (p.Port.Length > 0 ? $" on port {p.Port}" : ""),
            V1.Probe.CheckOneofCase.Tcp => $"tcp connect to port {p.Tcp}",
            _ => $"exec {string.Join(' ', p.Exec.Command)}",
        };
        var parts = new List<string> { check };
        if (p.Interval is not null)
        {
            parts.Add($"every {Humanize.SpecDuration(p.Interval)}");
        }

        if (p.Timeout is not null)
        {
            parts.Add($"timeout {Humanize.SpecDuration(p.Timeout)}");
        }

        if (p.InitialDelay is not null && p.InitialDelay.ToTimeSpan() > TimeSpan.Zero)
        {
            parts.Add($"initial delay {Humanize.SpecDuration(p.InitialDelay)}");
        }

        if (p.SuccessThreshold > 0)
        {
            parts.Add($"success after {p.SuccessThreshold}");
        }

        if (p.FailureThreshold > 0)
        {
            parts.Add($"failure after {p.FailureThreshold}");
        }

        return string.Join(", ", parts);
    }

    /// <summary>Placement rules in a few words: <c>spread; constraints: zone == a; at most 2 per node</c>.</summary>
    public static string Placement(Placement? p)
    {
        if (p is null)
        {
            return Humanize.None;
        }

        var parts = new List<string>
        {
            p.Strategy switch
            {
                PlacementStrategy.Binpack => "binpack",
                PlacementStrategy.Spread => "spread",
                _ => "default",
            },
        };
        if (p.Constraints.Count > 0)
        {
            parts.Add("constraints: " + string.Join(", ", p.Constraints.Select(c => c.Text.Length > 0 ? c.Text : $"{c.Key} {c.Operator} {string.Join(',', c.Values)}")));
        }

        if (p.MaxPerNode > 0)
        {
            parts.Add($"at most {p.MaxPerNode} per node");
        }

        if (p.SpreadBy.Length > 0)
        {
            parts.Add($"spread by {p.SpreadBy}");
        }

        return string.Join("; ", parts);
    }

    private static string Score(NodeScore score)
    {
        var terms = score.Terms.Select(t => $"{t.Scorer} {t.Score.ToString("0.#", CultureInfo.InvariantCulture)}" +
            (t.Weight != 1 && t.Weight != 0 ? $" x{t.Weight.ToString("0.##", CultureInfo.InvariantCulture)}" : ""));
        var breakdown = score.Terms.Count == 0 ? "" : $" ({string.Join(", ", terms)})";
        return $"{score.Node}: score {score.Total.ToString("0.#", CultureInfo.InvariantCulture)}{breakdown}";
    }

    private static string Resources(Resources? r) =>
        r is null ? Humanize.None : $"cpu {Humanize.Cpu(r.CpuMillis)}, memory {Humanize.Memory(r.MemoryBytes)}";

    private static string Percent(Resources? used, Resources? total)
    {
        if (used is null || total is null || total.CpuMillis == 0 || total.MemoryBytes == 0)
        {
            return "";
        }

        return $" ({used.CpuMillis * 100 / total.CpuMillis}% cpu, {used.MemoryBytes * 100 / total.MemoryBytes}% memory)";
    }

    private static string IntOrPercent(IntOrPercent? v) => v is null ? "0" : v.Percent ? $"{v.Value}%" : Num(v.Value);

    private static string Pairs(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var text = pairs.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}").ToList();
        return text.Count == 0 ? Humanize.None : string.Join("\n", text);
    }

    private static string Reasoned(string state, string reason, string message)
    {
        var text = state;
        if (reason.Length > 0)
        {
            text += $" ({reason})";
        }

        return message.Length > 0 ? $"{text}: {message}" : text;
    }

    private static string Timestamp(Timestamp? t, DateTimeOffset now) =>
        t is null || (t.Seconds == 0 && t.Nanos == 0)
            ? Humanize.None
            : $"{t.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)} ({Humanize.Age(t, now)} ago)";

    private static string Ago(Timestamp? t, DateTimeOffset now) =>
        Humanize.Age(t, now) is var age && age != Humanize.None ? $"{age} ago" : age;

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);
}
