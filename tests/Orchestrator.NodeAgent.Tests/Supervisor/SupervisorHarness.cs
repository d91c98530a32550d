using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Supervisor;
using Orchestrator.NodeAgent.Tests.Health;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Supervisor;

/// <summary>A supervisor on a fake clock over a <see cref="FakeContainerRuntime"/>, with every report it sends collected.</summary>
internal sealed class SupervisorHarness : IAsyncDisposable
{
    public const string Node = "node-1";

    private readonly List<ReplicaReport> _reports = [];
    private readonly Task _reader;

    public SupervisorHarness(Func<SupervisorOptions, SupervisorOptions>? configure = null, Action<FakeContainerRuntime>? seed = null)
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        Runtime = new FakeContainerRuntime(Time);
        seed?.Invoke(Runtime);
        var options = new SupervisorOptions { NodeName = Node, NodeAddress = "127.0.0.1" };
        Options = configure?.Invoke(options) ?? options;
        Supervisor = new ReplicaSupervisor(Options, [Runtime], Time);
        _reader = Task.Run(async () =>
        {
            await foreach (var report in Supervisor.Reports.ReadAllAsync())
            {
                lock (_reports)
                {
                    _reports.Add(report);
                }
            }
        });
    }

    public FakeTimeProvider Time { get; }

    public FakeContainerRuntime Runtime { get; }

    public SupervisorOptions Options { get; }

    public ReplicaSupervisor Supervisor { get; }

    public IReadOnlyList<ReplicaReport> Reports
    {
        get
        {
            lock (_reports)
            {
                return [.. _reports];
            }
        }
    }

    public Task StartAsync() => Supervisor.StartAsync(TestContext.Current.CancellationToken);

    /// <summary>A service replica on this node: process driver, one port "http" on host port 20001, restart always.</summary>
    public static Replica Replica(string id, Action<ReplicaTemplate>? template = null, long generation = 1, DesiredState desired = DesiredState.Run)
    {
        var t = new ReplicaTemplate
        {
            Driver = Driver.Process,
            Command = { "demo" },
            Restart = RestartPolicy.Always,
            Ports = { new PortSpec { Name = "http", Port = 8080 } },
            StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(7)),
        };
        template?.Invoke(t);
        var spec = new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = "service", Name = "web" },
            Revision = 1,
            Template = t,
            Node = Node,
            Desired = desired,
            Generation = generation,
        };
        foreach (var (port, i) in t.Ports.Select((p, i) => (p, i)))
        {
            spec.HostPorts[port.Name] = 20001 + i;
        }

        return new Replica { Meta = new ObjectMeta { Name = id }, Spec = spec };
    }

    public void Assign(params Replica[] replicas) => Supervisor.SetAssignments(replicas);

    /// <summary>A started harness with <paramref name="replicas"/> assigned, once every one of them is Ready.</summary>
    public static async Task<SupervisorHarness> WithReadyAsync(params Replica[] replicas)
    {
        var h = new SupervisorHarness();
        await h.StartAsync();
        h.Assign(replicas);
        foreach (var replica in replicas)
        {
            await h.WaitForPhaseAsync(replica.Meta.Name, Phase.Ready);
        }

        return h;
    }

    /// <summary>Waits for a report of <paramref name="id"/> that matches; returns the latest such report.</summary>
    public async Task<ReplicaStatus> WaitForAsync(string id, Func<ReplicaStatus, bool> match, string what)
    {
        ReplicaStatus? found = null;
        await Eventually.WaitUntilAsync(
            () => (found = Reports.LastOrDefault(r => r.ReplicaId == id && match(r.Status))?.Status) is not null,
            $"{id} reported {what}; reports so far: {Describe(id)}");
        return found!;
    }

    public Task<ReplicaStatus> WaitForPhaseAsync(string id, Phase phase) => WaitForAsync(id, s => s.Phase == phase, phase.ToString());

    /// <summary>The latest report of <paramref name="id"/>.</summary>
    public ReplicaStatus? Latest(string id) => Reports.LastOrDefault(r => r.ReplicaId == id)?.Status;

    public string Describe(string id) =>
        string.Join(" -> ", Reports.Where(r => r.ReplicaId == id).Select(r => $"{r.Status.Phase}({r.Status.Reason}, restarts {r.Status.Restarts})"));

    public async ValueTask DisposeAsync()
    {
        await Supervisor.DisposeAsync();
        await _reader;
    }
}
