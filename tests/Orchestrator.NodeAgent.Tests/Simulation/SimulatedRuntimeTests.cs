using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.NodeAgent.Simulation;
using Orchestrator.NodeAgent.Supervisor;
using Orchestrator.NodeAgent.Tests.Health;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Simulation;

public sealed class SimulatedRuntimeTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static ReplicaLaunch Launch(string id) => new()
    {
        ReplicaId = id,
        OwnerKind = "service",
        OwnerName = "web",
        Generation = 3,
        NodeName = "sim-0001",
        Ports = [new ReplicaPort("http", 8080, 20001)],
    };

    [Fact]
    public async Task A_start_runs_at_once_sends_a_started_event_and_a_second_start_returns_the_same_run()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        var runtime = new SimulatedRuntime("process", "sim-0001", time);
        var events = runtime.WatchAsync(Token).GetAsyncEnumerator(Token);

        var first = await runtime.StartAsync(Launch("web-1"), Token);
        var again = await runtime.StartAsync(Launch("web-1"), Token);

        Assert.False(first.AlreadyRunning);
        Assert.True(again.AlreadyRunning);
        Assert.Equal(first.RuntimeId, again.RuntimeId);
        var listed = Assert.Single(await runtime.ListAsync(Token));
        Assert.Equal(ReplicaState.Running, listed.State);
        Assert.Equal("sim-0001", listed.NodeName);
        Assert.Equal(3, listed.Generation);
        Assert.Equal(time.GetUtcNow(), listed.StartedAt);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(new RuntimeEvent(RuntimeEventKind.Started, "web-1", time.GetUtcNow(), RuntimeId: first.RuntimeId), events.Current);
        Assert.Equal(1, runtime.RunningCount);
        await events.DisposeAsync();
    }

    [Fact]
    public async Task A_stop_ends_the_run_with_code_0_and_an_exit_event_and_a_start_after_it_is_a_new_run()
    {
        var time = new FakeTimeProvider();
        var runtime = new SimulatedRuntime("docker", "sim-0001", time);
        var first = await runtime.StartAsync(Launch("web-1"), Token);
        var events = runtime.WatchAsync(Token).GetAsyncEnumerator(Token);

        await runtime.StopAsync("web-1", TimeSpan.FromSeconds(10), Token);
        await runtime.StopAsync("web-1", TimeSpan.FromSeconds(10), Token);
        await runtime.StopAsync("unknown", TimeSpan.FromSeconds(10), Token);

        var stopped = Assert.Single(await runtime.ListAsync(Token));
        Assert.Equal(ReplicaState.Exited, stopped.State);
        Assert.Equal(0, stopped.ExitCode);
        Assert.Equal(ExitReasons.Completed, stopped.Reason);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(RuntimeEventKind.Exited, events.Current.Kind);
        Assert.Equal(first.RuntimeId, events.Current.RuntimeId);
        Assert.Equal(0, runtime.RunningCount);

        var second = await runtime.StartAsync(Launch("web-1"), Token);
        Assert.False(second.AlreadyRunning);
        Assert.NotEqual(first.RuntimeId, second.RuntimeId);
        await events.DisposeAsync();
    }

    [Fact]
    public async Task Remove_forgets_the_replica_and_removing_an_unknown_one_does_nothing()
    {
        var runtime = new SimulatedRuntime("process", "sim-0001", new FakeTimeProvider());
        await runtime.StartAsync(Launch("web-1"), Token);

        await runtime.RemoveAsync("web-1", Token);
        await runtime.RemoveAsync("web-2", Token);

        Assert.Empty(await runtime.ListAsync(Token));
    }

    [Fact]
    public void Only_the_process_and_docker_drivers_can_be_simulated()
    {
        var e = Assert.Throws<ArgumentException>(() => new SimulatedRuntime("podman", "sim-0001", new FakeTimeProvider()));
        Assert.StartsWith("a simulated runtime stands in for the process or docker driver, not \"podman\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_replica_id_is_refused_as_by_the_real_runtimes()
    {
        var runtime = new SimulatedRuntime("process", "sim-0001", new FakeTimeProvider());
        await Assert.ThrowsAsync<ArgumentException>(() => runtime.StartAsync(Launch("../etc"), Token));
        Assert.Empty(await runtime.ListAsync(Token));
    }

    [Fact]
    public async Task Under_the_real_supervisor_a_replica_with_a_readiness_probe_is_Ready_at_once_on_the_nodes_address_and_a_stop_Succeeds()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        SimulatedRuntime[] runtimes = [new("process", "sim-0001", time), new("docker", "sim-0001", time)];
        await using var inner = new ReplicaSupervisor(new SupervisorOptions { NodeName = "sim-0001", NodeAddress = "127.1.0.1" }, runtimes, time);
        var supervisor = new ProbelessSupervisor(inner);
        var reports = new List<ReplicaReport>();
        var reader = Task.Run(
            async () =>
            {
                await foreach (var report in supervisor.Reports.ReadAllAsync(Token))
                {
                    lock (reports)
                    {
                        reports.Add(report);
                    }
                }
            },
            Token);
        await inner.StartAsync(Token);
        var replica = Replica("web-1", Driver.Docker, DesiredState.Run);

        supervisor.SetAssignments([replica]);
        await Eventually.WaitUntilAsync(() => Phases(reports, "web-1").LastOrDefault() == Phase.Ready, "web-1 is Ready");

        // Running and Ready may fall into one report: the supervisor reports once per pass.
        var phases = Phases(reports, "web-1");
        Assert.Equal(Phase.Starting, phases[0]);
        Assert.All(phases, p => Assert.True(p is Phase.Starting or Phase.Running or Phase.Ready, $"unexpected {p}"));
        var ready = Latest(reports, "web-1");
        Assert.Equal(new Endpoint { Address = "127.1.0.1", Port = 20001 }, ready.Endpoints["http"]);
        Assert.Equal(1, runtimes[1].RunningCount);
        Assert.Equal(0, runtimes[0].RunningCount);
        Assert.NotNull(replica.Spec.Template.Health);

        supervisor.SetAssignments([Replica("web-1", Driver.Docker, DesiredState.Stop)]);
        await Eventually.WaitUntilAsync(() => Phases(reports, "web-1").LastOrDefault() == Phase.Succeeded, "web-1 Succeeded");
        Assert.Equal("Stopped", Latest(reports, "web-1").Reason);
        Assert.Equal(0, runtimes[1].RunningCount);
        await inner.StopAsync(Token);
        await reader;
    }

    [Fact]
    public void Stripping_probes_copies_the_replica_and_leaves_one_without_probes_as_it_is()
    {
        var withProbes = Replica("web-1", Driver.Process, DesiredState.Run);
        var without = withProbes.Clone();
        without.Spec.Template.Health = null;

        var stripped = ProbelessSupervisor.Strip(withProbes);

        Assert.Null(stripped.Spec.Template.Health);
        Assert.NotNull(withProbes.Spec.Template.Health);
        Assert.Same(without, ProbelessSupervisor.Strip(without));
    }

    private static List<Phase> Phases(List<ReplicaReport> reports, string id)
    {
        lock (reports)
        {
            return [.. reports.Where(r => r.ReplicaId == id).Select(r => r.Status.Phase)];
        }
    }

    private static ReplicaStatus Latest(List<ReplicaReport> reports, string id)
    {
        lock (reports)
        {
            return reports.Last(r => r.ReplicaId == id).Status;
        }
    }

    private static Replica Replica(string id, Driver driver, DesiredState desired) => new()
    {
        Meta = new ObjectMeta { Name = id },
        Spec = new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = "service", Name = "web" },
            Node = "sim-0001",
            Generation = 1,
            Desired = desired,
            HostPorts = { ["http"] = 20001 },
            Template = new ReplicaTemplate
            {
                Driver = driver,
                Image = "nginx:1.27",
                Restart = RestartPolicy.Always,
                Ports = { new PortSpec { Name = "http", Port = 80 } },
                StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)),
                Health = new HealthSpec
                {
                    Readiness = new Probe { Http = "/", Port = "http" },
                    Liveness = new Probe { Tcp = "http" },
                },
            },
        },
    };
}
