using Google.Protobuf.WellKnownTypes;
using Orchestrator.V1;
using Duration = Google.Protobuf.WellKnownTypes.Duration;

namespace Orchestrator.Cli.Tests;

/// <summary>Fixed objects and a fixed clock for output tests.</summary>
public static class Samples
{
    public static readonly DateTimeOffset Now = new(2026, 1, 15, 12, 0, 0, TimeSpan.Zero);

    public static Timestamp Ago(TimeSpan age) => Timestamp.FromDateTimeOffset(Now - age);

    public static Service Web() => new()
    {
        Meta = new ObjectMeta { Name = "web", Uid = "b7c1", Generation = 3, CreatedAt = Ago(TimeSpan.FromMinutes(42)) },
        Revision = 2,
        Spec = new ServiceSpec
        {
            Name = "web",
            Replicas = 3,
            Template = new ReplicaTemplate
            {
                Driver = Driver.Docker,
                Image = "nginx:1.27",
                Env = { ["GREETING"] = "hello" },
                Resources = new Resources { CpuMillis = 250, MemoryBytes = 128L * 1024 * 1024 },
                Ports = { new PortSpec { Name = "http", Port = 80, Published = 8080, Protocol = Protocol.Http } },
                Health = new HealthSpec
                {
                    Readiness = new Probe
                    {
                        Http = "/",
                        Port = "http",
                        Interval = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
                        Timeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
                        FailureThreshold = 3,
                        SuccessThreshold = 1,
                    },
                },
                Restart = RestartPolicy.Always,
                StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
                Placement = new Placement
                {
                    Strategy = PlacementStrategy.Spread,
                    Constraints = { new Constraint { Key = "zone", Operator = ConstraintOperator.Equal, Values = { "a" }, Text = "zone == a" } },
                },
            },
            Update = new UpdateStrategy
            {
                MaxSurge = new IntOrPercent { Value = 1 },
                MaxUnavailable = new IntOrPercent { Value = 0 },
                MinReady = Duration.FromTimeSpan(TimeSpan.Zero),
                ProgressDeadline = Duration.FromTimeSpan(TimeSpan.FromMinutes(10)),
                OnFailure = OnFailure.Rollback,
            },
        },
        Status = new ServiceStatus
        {
            ObservedGeneration = 3,
            CurrentRevision = 2,
            Replicas = 3,
            ReadyReplicas = 2,
            UpdatedReplicas = 3,
            Rollout = RolloutState.Progressing,
        },
    };

    public static Service Api() => new()
    {
        Meta = new ObjectMeta { Name = "api", Generation = 1, CreatedAt = Ago(TimeSpan.FromDays(3) + TimeSpan.FromHours(4)) },
        Revision = 1,
        Spec = new ServiceSpec
        {
            Name = "api",
            Replicas = 1,
            Template = new ReplicaTemplate
            {
                Driver = Driver.Process,
                Command = { "python3", "-m", "http.server", "${PORT}" },
                Ports = { new PortSpec { Name = "http", Port = 8000, Protocol = Protocol.Tcp } },
            },
        },
        Status = new ServiceStatus { Replicas = 1, ReadyReplicas = 1, Rollout = RolloutState.Complete },
    };

    public static Job Report() => new()
    {
        Meta = new ObjectMeta { Name = "report", Generation = 1, CreatedAt = Ago(TimeSpan.FromSeconds(95)) },
        Spec = new JobSpec
        {
            Name = "report",
            Completions = 5,
            Parallelism = 2,
            BackoffLimit = 3,
            Template = new ReplicaTemplate { Driver = Driver.Process, Command = { "sh", "-c", "echo done" } },
        },
        Status = new JobStatus { State = JobState.Running, Active = 2, Succeeded = 3, StartedAt = Ago(TimeSpan.FromSeconds(90)) },
    };

    public static Node Node(string name, string address, NodeState state, bool cordoned, TimeSpan heartbeat) => new()
    {
        Meta = new ObjectMeta { Name = name, CreatedAt = Ago(TimeSpan.FromHours(5)) },
        Info = new NodeInfo
        {
            Address = address,
            Drivers = { Driver.Process, Driver.Docker },
            Capacity = new Resources { CpuMillis = 2000, MemoryBytes = 4L * 1024 * 1024 * 1024 },
            Allocatable = new Resources { CpuMillis = 2000, MemoryBytes = 4L * 1024 * 1024 * 1024 },
            Ports = new PortRange { First = 20000, Last = 20999 },
            Labels = { ["zone"] = "a" },
        },
        Spec = new NodeSpec { Cordoned = cordoned },
        Status = new NodeStatus
        {
            State = state,
            LastHeartbeat = Ago(heartbeat),
            Allocated = new Resources { CpuMillis = 750, MemoryBytes = 384L * 1024 * 1024 },
            Replicas = 3,
        },
    };

    public static Replica Running(string id, string node, int port) => new()
    {
        Meta = new ObjectMeta { Name = id, CreatedAt = Ago(TimeSpan.FromMinutes(7)) },
        Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Revision = 2, Node = node, Desired = DesiredState.Run, Generation = 1, HostPorts = { ["http"] = port } },
        Status = new ReplicaStatus
        {
            Phase = Phase.Ready,
            Restarts = 1,
            Endpoints = { ["http"] = new Endpoint { Address = "127.0.0.2", Port = port } },
            StartedAt = Ago(TimeSpan.FromMinutes(6)),
            Placement = new PlacementExplanation
            {
                DecidedAt = Ago(TimeSpan.FromMinutes(7)),
                NodesTotal = 3,
                NodesFeasible = 2,
                Rejected = { new RuleCount { Rule = "insufficient memory", Nodes = 1 } },
                Chosen = new NodeScore { Node = node, Total = 87, Terms = { new ScoreTerm { Scorer = "least-allocated", Score = 80, Weight = 1 }, new ScoreTerm { Scorer = "spread", Score = 7, Weight = 1 } } },
                Alternatives = { new NodeScore { Node = "node-2", Total = 61 } },
                Message = $"Scheduled {id} on {node}: scored 87; 1 node rejected",
            },
        },
    };

    public static Replica Pending(string id) => new()
    {
        Meta = new ObjectMeta { Name = id, CreatedAt = Ago(TimeSpan.FromSeconds(12)) },
        Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Revision = 2, Desired = DesiredState.Run },
        Status = new ReplicaStatus
        {
            Phase = Phase.Pending,
            Placement = new PlacementExplanation { NodesTotal = 3, Message = "0 of 3 nodes fit: 3 insufficient memory" },
        },
    };

    public static Event Scheduled() => new()
    {
        Id = "e1",
        Time = Ago(TimeSpan.FromMinutes(7)),
        Object = new ObjectRef { Kind = "service", Name = "web" },
        Type = EventType.Normal,
        Reason = "Scheduled",
        Message = "Scheduled web-7f3k2 on node-1: 250m cpu/128Mi free after placing",
        Source = "scheduler",
    };

    public static Event Unhealthy() => new()
    {
        Id = "e2",
        Time = Ago(TimeSpan.FromSeconds(30)),
        Object = new ObjectRef { Kind = "replica", Name = "web-7f3k2" },
        Type = EventType.Warning,
        Reason = "Unhealthy",
        Message = "readiness http GET / returned 503",
        Source = "node-1",
    };

    public static ServiceEndpoints WebEndpoints() => new()
    {
        Service = "web",
        Version = 41,
        ChangedAt = Ago(TimeSpan.FromSeconds(95)),
        Ports =
        {
            new PortEndpoints
            {
                Port = "http",
                Published = 8080,
                Protocol = Protocol.Http,
                Endpoints =
                {
                    new ReplicaEndpoint { Replica = "web-7f3k2", Node = "node-1", Endpoint = new Endpoint { Address = "127.0.0.2", Port = 20001 } },
                    new ReplicaEndpoint { Replica = "web-9x2pq", Node = "node-2", Endpoint = new Endpoint { Address = "127.0.0.3", Port = 20004 } },
                },
            },
        },
    };

    public static ServiceRevision Revision(long number, string image, TimeSpan age, string cause) => new()
    {
        Service = "web",
        Revision = number,
        Template = new ReplicaTemplate { Driver = Driver.Docker, Image = image },
        CreatedAt = Ago(age),
        Cause = cause,
    };

    public static V1.Object Wrap(Service s) => new() { Service = s };

    public static V1.Object Wrap(Job j) => new() { Job = j };

    public static V1.Object Wrap(Node n) => new() { Node = n };

    public static V1.Object Wrap(Replica r) => new() { Replica = r };

    public static V1.Object Wrap(Event e) => new() { Event = e };

    public static V1.Object Wrap(ServiceEndpoints e) => new() { Endpoints = e };
}
