using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>The columns of <c>orc get</c> for each kind, computed from protobuf objects and a clock.</summary>
public static class ObjectTables
{
    public static IReadOnlyList<string> Headers(ObjectKind kind) => kind switch
    {
        ObjectKind.Service => ["NAME", "REPLICAS", "REVISION", "DRIVER", "IMAGE/COMMAND", "PORTS", "AGE"],
        ObjectKind.Job => ["NAME", "COMPLETIONS", "STATUS", "DURATION", "AGE"],
        ObjectKind.Node => ["NAME", "STATE", "ADDRESS", "CPU", "MEMORY", "REPLICAS", "DRIVERS", "LAST HEARTBEAT"],
        ObjectKind.Replica => ["ID", "OWNER", "NODE", "PHASE", "RESTARTS", "ENDPOINT", "AGE", "REASON"],
        ObjectKind.Event => ["TIME", "OBJECT", "TYPE", "REASON", "MESSAGE"],
        ObjectKind.Endpoints => ["SERVICE", "PORT", "PUBLISHED", "PROTOCOL", "ENDPOINTS", "VERSION", "AGE"],
        ObjectKind.ControlPlane => ["NAME", "ADDRESS", "ROLE", "SINCE", "AGE"],
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no table for this kind"),
    };

    /// <summary>Rows for the given objects; an endpoints object gives one row per port.</summary>
    public static IEnumerable<IReadOnlyList<string>> Rows(IEnumerable<V1.Object> items, DateTimeOffset now) =>
        items.SelectMany(item => Rows(item, now));

    public static IEnumerable<IReadOnlyList<string>> Rows(V1.Object item, DateTimeOffset now) => item.KindCase switch
    {
        V1.Object.KindOneofCase.Service => [ServiceRow(item.Service, now)],
        V1.Object.KindOneofCase.Job => [JobRow(item.Job, now)],
        V1.Object.KindOneofCase.Node => [NodeRow(item.Node, now)],
        V1.Object.KindOneofCase.Replica => [ReplicaRow(item.Replica, now)],
        V1.Object.KindOneofCase.Event => [EventRow(item.Event, now)],
        V1.Object.KindOneofCase.Endpoints => EndpointsRows(item.Endpoints, now),
        V1.Object.KindOneofCase.ControlPlane => [ControlPlaneRow(item.ControlPlane, now)],
        _ => [],
    };

    public static IReadOnlyList<string> ServiceRow(Service s, DateTimeOffset now)
    {
        var spec = s.Spec ?? new ServiceSpec();
        var status = s.Status ?? new ServiceStatus();
        return
        [
            spec.Name.Length > 0 ? spec.Name : s.Meta?.Name ?? "",
            $"{status.ReadyReplicas}/{spec.Replicas}",
            Num(s.Revision),
            Humanize.Driver(spec.Template?.Driver ?? Driver.Unspecified),
            Humanize.Workload(spec.Template),
            Humanize.Ports(spec.Template?.Ports ?? []),
            Humanize.Age(s.Meta?.CreatedAt, now),
        ];
    }

    public static IReadOnlyList<string> JobRow(Job j, DateTimeOffset now)
    {
        var spec = j.Spec ?? new JobSpec();
        var status = j.Status ?? new JobStatus();
        return
        [
            spec.Name.Length > 0 ? spec.Name : j.Meta?.Name ?? "",
            $"{status.Succeeded}/{spec.Completions}",
            Humanize.JobState(status.State) + (status.State == JobState.Running && status.Reason.Length > 0 ? $" ({status.Reason})" : ""),
            JobDuration(status, now),
            Humanize.Age(j.Meta?.CreatedAt, now),
        ];
    }

    /// <summary>How long the job ran: from its first replica to its end, or until now while it runs.</summary>
    public static string JobDuration(JobStatus status, DateTimeOffset now)
    {
        if (status.StartedAt is not { } started || (started.Seconds == 0 && started.Nanos == 0))
        {
            return Humanize.None;
        }

        var end = status.CompletedAt is { } done && done.Seconds != 0 ? done.ToDateTimeOffset() : now;
        return Humanize.Duration(end - started.ToDateTimeOffset());
    }

    public static IReadOnlyList<string> NodeRow(Node n, DateTimeOffset now)
    {
        var info = n.Info ?? new NodeInfo();
        var status = n.Status ?? new NodeStatus();
        var allocated = status.Allocated ?? new Resources();
        var allocatable = info.Allocatable ?? new Resources();
        var state = Humanize.NodeState(status.State);
        // As kubectl shows it: a cordoned node is Ready,SchedulingDisabled; a draining one says so too.
        if (n.Spec?.Cordoned == true || n.Spec?.Draining == true)
        {
            state += ",SchedulingDisabled";
        }

        if (n.Spec?.Draining == true)
        {
            state += status.DrainCompletedAt is null ? ",Draining" : ",Drained";
        }

        var heartbeat = Humanize.Age(status.LastHeartbeat, now);
        return
        [
            n.Meta?.Name ?? "",
            state,
            info.Address.Length > 0 ? info.Address : Humanize.None,
            $"{Humanize.Cpu(allocated.CpuMillis)}/{Humanize.Cpu(allocatable.CpuMillis)}",
            $"{Humanize.Memory(allocated.MemoryBytes)}/{Humanize.Memory(allocatable.MemoryBytes)}",
            Num(status.Replicas),
            info.Drivers.Count == 0 ? Humanize.None : string.Join(',', info.Drivers.Select(Humanize.Driver)),
            heartbeat == Humanize.None ? "never" : $"{heartbeat} ago",
        ];
    }

    public static IReadOnlyList<string> ReplicaRow(Replica r, DateTimeOffset now)
    {
        var spec = r.Spec ?? new ReplicaSpec();
        var status = r.Status ?? new ReplicaStatus();
        return
        [
            r.Meta?.Name ?? "",
            Humanize.Owner(spec.Owner),
            spec.Node.Length > 0 ? spec.Node : Humanize.None,
            Humanize.Phase(status.Phase),
            Num(status.Restarts),
            Humanize.Endpoints(status.Endpoints),
            Humanize.Age(r.Meta?.CreatedAt, now),
            Reason(status, now),
        ];
    }

    /// <summary>ROLE is leader or follower; SINCE is how long it has had that role; AGE how long it has been registered.</summary>
    public static IReadOnlyList<string> ControlPlaneRow(ControlPlaneMember m, DateTimeOffset now) =>
    [
        m.Id,
        m.ApiAddress.Length > 0 ? m.ApiAddress : Humanize.None,
        m.Leader ? "leader" : "follower",
        Humanize.Age(m.Since, now),
        Humanize.Age(m.Started, now),
    ];

    public static IReadOnlyList<string> EventRow(Event e, DateTimeOffset now) =>
    [
        Humanize.Age(e.Time, now),
        Humanize.Ref(e.Object),
        Humanize.EventType(e.Type),
        e.Reason,
        e.Message,
    ];

    /// <summary>At most this many endpoints are listed in a row; more are counted (<c>+9 more</c>).</summary>
    public const int EndpointsListed = 3;

    /// <summary>One row per port; <c>AGE</c> is how long ago the set last changed (<c>changed_at</c>).</summary>
    public static IEnumerable<IReadOnlyList<string>> EndpointsRows(ServiceEndpoints e, DateTimeOffset now)
    {
        var version = e.Version > 0 ? e.Version.ToString(CultureInfo.InvariantCulture) : Humanize.None;
        var age = Humanize.Age(e.ChangedAt, now);
        if (e.Ports.Count == 0)
        {
            yield return [e.Service, Humanize.None, Humanize.None, Humanize.None, Humanize.None, version, age];
            yield break;
        }

        foreach (var port in e.Ports)
        {
            var endpoints = port.Endpoints.Select(x => $"{x.Endpoint?.Address}:{x.Endpoint?.Port}").ToList();
            var listed = endpoints.Count <= EndpointsListed + 1
                ? string.Join(',', endpoints)
                : string.Join(',', endpoints.Take(EndpointsListed)) + $" +{endpoints.Count - EndpointsListed} more";
            yield return
            [
                e.Service,
                port.Port,
                port.Published > 0 ? Num(port.Published) : Humanize.None,
                Humanize.Protocol(port.Protocol),
                endpoints.Count == 0 ? Humanize.None : listed,
                version,
                age,
            ];
        }
    }

    /// <summary>
    /// Why a replica is where it is: its reason (with the next retry of a replica waiting to be
    /// restarted: <c>CrashLoopBackOff, retry in 4s</c>), or for a pending replica the scheduler's message.
    /// </summary>
    private static string Reason(ReplicaStatus status, DateTimeOffset now)
    {
        if (status.Reason.Length > 0)
        {
            if (status.NextRetryAt is { } retry && retry.ToDateTimeOffset() > now)
            {
                var wait = retry.ToDateTimeOffset() - now;
                return $"{status.Reason}, retry in {Humanize.Duration(TimeSpan.FromSeconds(Math.Ceiling(wait.TotalSeconds)))}";
            }

            return status.Reason;
        }

        return status.Phase == Phase.Pending && status.Placement?.Message.Length > 0 ? status.Placement.Message : "";
    }

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);
}
