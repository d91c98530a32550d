using System.Net;
using System.Net.Sockets;
using Orchestrator.NodeAgent.Health;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.NodeAgent.Supervisor;
using Orchestrator.NodeAgent.Tests.Health;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Supervisor;

public sealed class ReplicaSupervisorTests
{
    [Fact]
    public async Task An_assigned_replica_without_a_readiness_probe_is_started_and_reported_starting_then_ready()
    {
        await using var h = new SupervisorHarness();
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1"));

        var ready = await h.WaitForPhaseAsync("web-1", Phase.Ready);

        Assert.Equal([Phase.Starting, Phase.Ready], h.Reports.Where(r => r.ReplicaId == "web-1").Select(r => r.Status.Phase).Distinct());
        Assert.Equal(0, ready.Restarts);
        Assert.Equal(new Endpoint { Address = "127.0.0.1", Port = 20001 }, ready.Endpoints["http"]);
        Assert.NotNull(ready.ReadyAt);
        var launch = Assert.Single(h.Runtime.Launches);
        Assert.Equal(("web-1", "web", SupervisorHarness.Node), (launch.ReplicaId, launch.OwnerName, launch.NodeName));
        Assert.Equal(20001, launch.Ports.Single().HostPort);
        Assert.Equal(1, Assert.Single(h.Supervisor.Snapshot()).Generation);
    }

    [Fact]
    public async Task Each_start_gets_the_service_variables_known_at_that_start()
    {
        var known = new Dictionary<string, string> { ["API_SERVICE_PORT"] = "7000" };
        await using var h = new SupervisorHarness(o => o with { ServiceEnvironment = () => new Dictionary<string, string>(known) });
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1"));
        await h.WaitForPhaseAsync("web-1", Phase.Ready);

        known["DB_SERVICE_PORT"] = "5432";
        h.Runtime.Crash("web-1", 1);
        await h.WaitForAsync("web-1", s => s.Restarts == 1 && s.Phase == Phase.Ready, "restarted");

        Assert.Equal(2, h.Runtime.Launches.Count);
        Assert.Equal(["API_SERVICE_PORT"], h.Runtime.Launches[0].ServiceEnvironment.Keys);
        Assert.Equal(["API_SERVICE_PORT", "DB_SERVICE_PORT"], h.Runtime.Launches[1].ServiceEnvironment.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_crashed_replica_is_restarted_at_once_on_its_exit_event_and_its_restart_count_rises()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"));

        h.Runtime.Crash("web-1", 3);

        var ready = await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == 1, "ready after one restart");
        Assert.Equal(2, h.Runtime.StartCount);
        Assert.Equal(ExitReasons.Error, ready.Reason);
        Assert.Contains("exited with code 3", ready.Message, StringComparison.Ordinal);
        Assert.Equal(3, ready.ExitCode);
    }

    [Fact]
    public async Task A_replica_that_keeps_crashing_backs_off_exponentially_and_says_CrashLoopBackOff_with_the_next_retry()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"));

        h.Runtime.Crash("web-1", 1);
        await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == 1, "restarted once");

        var expected = new[] { 250, 500, 1000, 2000 };
        for (var i = 0; i < expected.Length; i++)
        {
            var crashedAt = h.Time.GetUtcNow();
            h.Runtime.Crash("web-1", 1);
            var waiting = await h.WaitForAsync("web-1", s => s.Reason == "CrashLoopBackOff" && s.Restarts == i + 1, $"back-off #{i + 1}");
            Assert.Equal(Phase.Failed, waiting.Phase);
            Assert.Equal(crashedAt + TimeSpan.FromMilliseconds(expected[i]), waiting.NextRetryAt.ToDateTimeOffset());
            Assert.Contains($"restarting in {DurationText.Format(TimeSpan.FromMilliseconds(expected[i]))}", waiting.Message, StringComparison.Ordinal);

            // Not a moment early.
            h.Time.Advance(TimeSpan.FromMilliseconds(expected[i] - 1));
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, TestContext.Current.CancellationToken);
            Assert.Equal(i + 2, h.Runtime.StartCount);

            h.Time.Advance(TimeSpan.FromMilliseconds(1));
            await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == i + 2, $"restart #{i + 2}");
        }
    }

    [Fact]
    public async Task The_back_off_is_capped_and_starts_over_after_a_healthy_minute()
    {
        var backoff = new RestartBackoff();
        Assert.Equal(TimeSpan.Zero, backoff.DelayFor(1));
        Assert.Equal(TimeSpan.FromMilliseconds(250), backoff.DelayFor(2));
        Assert.Equal(TimeSpan.FromSeconds(16), backoff.DelayFor(8));
        Assert.Equal(TimeSpan.FromSeconds(30), backoff.DelayFor(9));
        Assert.Equal(TimeSpan.FromSeconds(30), backoff.DelayFor(500));

        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"));
        h.Runtime.Crash("web-1", 1);
        await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == 1, "restarted once");

        // A minute of healthy running: the next crash restarts at once again.
        h.Time.Advance(TimeSpan.FromMinutes(1));
        h.Runtime.Crash("web-1", 1);
        await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == 2, "restarted at once");
        Assert.DoesNotContain(h.Reports, r => r.Status.Reason == "CrashLoopBackOff");
    }

    [Theory]
    [InlineData(RestartPolicy.Never, 0, Phase.Succeeded, false)]
    [InlineData(RestartPolicy.Never, 2, Phase.Failed, false)]
    [InlineData(RestartPolicy.OnFailure, 0, Phase.Succeeded, false)]
    [InlineData(RestartPolicy.OnFailure, 2, Phase.Failed, true)]
    [InlineData(RestartPolicy.Always, 0, Phase.Succeeded, true)]
    public async Task The_restart_policy_decides_whether_an_ended_replica_runs_again(RestartPolicy policy, int exitCode, Phase endPhase, bool restarts)
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("job-1", t => t.Restart = policy));

        h.Runtime.Crash("job-1", exitCode);

        if (restarts)
        {
            await h.WaitForAsync("job-1", s => s.Phase == Phase.Ready && s.Restarts == 1, "restarted");
        }
        else
        {
            var ended = await h.WaitForPhaseAsync("job-1", endPhase);
            Assert.Equal(exitCode, ended.ExitCode);
            Assert.Null(ended.NextRetryAt);
            Assert.NotNull(ended.FinishedAt);

            // Even after any back-off would have passed, nothing starts again.
            h.Time.Advance(TimeSpan.FromMinutes(5));
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, TestContext.Current.CancellationToken);
            Assert.Equal(1, h.Runtime.StartCount);
            Assert.Equal(endPhase, h.Latest("job-1")!.Phase);
        }
    }

    [Theory]
    [InlineData(RestartPolicy.OnFailure, 0, Phase.Succeeded)]
    [InlineData(RestartPolicy.OnFailure, 3, Phase.Failed)]
    [InlineData(RestartPolicy.Never, 3, Phase.Failed)]
    public async Task A_job_replica_is_never_restarted_in_place_its_job_retries_with_a_new_replica(RestartPolicy policy, int exitCode, Phase endPhase)
    {
        var replica = SupervisorHarness.Replica("report-1", t => t.Restart = policy);
        replica.Spec.Owner = new OwnerRef { Kind = "job", Name = "report" };
        await using var h = await SupervisorHarness.WithReadyAsync(replica);

        h.Runtime.Crash("report-1", exitCode);

        var ended = await h.WaitForPhaseAsync("report-1", endPhase);
        Assert.Equal(exitCode, ended.ExitCode);
        Assert.Null(ended.NextRetryAt);
        Assert.Equal(0, ended.Restarts);
        h.Time.Advance(TimeSpan.FromMinutes(5));
        await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, TestContext.Current.CancellationToken);
        Assert.Equal(1, h.Runtime.StartCount);
        Assert.Equal(endPhase, h.Latest("report-1")!.Phase);
        Assert.DoesNotContain(h.Reports, r => r.Status.Reason == "CrashLoopBackOff");
    }

    [Fact]
    public async Task A_replica_no_longer_assigned_is_stopped_with_its_grace_then_removed_and_forgotten()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"), SupervisorHarness.Replica("web-2"));

        h.Assign(SupervisorHarness.Replica("web-2"));

        await Eventually.WaitUntilAsync(() => h.Supervisor.Snapshot().All(r => r.ReplicaId != "web-1"), "web-1 is forgotten");
        Assert.Equal([("web-1", TimeSpan.FromSeconds(7))], h.Runtime.Stops);
        Assert.Equal(["web-1"], h.Runtime.Removes);
        Assert.Null(h.Runtime.Get("web-1"));
        Assert.True(h.Runtime.IsRunning("web-2"));
        Assert.Equal(1, h.Runtime.Launches.Count(l => l.ReplicaId == "web-1"));
    }

    [Fact]
    public async Task Desired_stop_stops_the_replica_and_reports_it_Succeeded_Stopped_without_restarting_it()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"));

        h.Assign(SupervisorHarness.Replica("web-1", desired: DesiredState.Stop));

        var stopped = await h.WaitForPhaseAsync("web-1", Phase.Succeeded);
        Assert.Equal("Stopped", stopped.Reason);
        Assert.Equal(143, stopped.ExitCode);
        Assert.Single(h.Runtime.Stops);
        Assert.Empty(h.Runtime.Removes);
        h.Time.Advance(TimeSpan.FromMinutes(1));
        await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, TestContext.Current.CancellationToken);
        Assert.Equal(1, h.Runtime.StartCount);
    }

    [Fact]
    public async Task Desired_drain_keeps_the_replica_running_and_reports_Draining()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"));

        h.Assign(SupervisorHarness.Replica("web-1", desired: DesiredState.Drain));

        await h.WaitForPhaseAsync("web-1", Phase.Draining);
        Assert.True(h.Runtime.IsRunning("web-1"));
        Assert.Empty(h.Runtime.Stops);
    }

    [Fact]
    public async Task A_start_that_fails_reports_the_reason_and_is_retried_with_back_off()
    {
        await using var h = new SupervisorHarness();
        h.Runtime.FailStart = l => new ReplicaStartException(ExitReasons.ImageNotFound, "image orc-demo:9 is not on this node and there is no registry to pull it from");
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1"));

        var failed = await h.WaitForAsync("web-1", s => s.Phase == Phase.Failed && s.NextRetryAt is not null, "a failed start waiting for a retry");
        Assert.Equal(ExitReasons.ImageNotFound, failed.Reason);
        Assert.Contains("no registry", failed.Message, StringComparison.Ordinal);

        h.Runtime.FailStart = _ => null;
        h.Time.Advance(failed.NextRetryAt.ToDateTimeOffset() - h.Time.GetUtcNow());
        await h.WaitForPhaseAsync("web-1", Phase.Ready);
    }

    [Fact]
    public async Task A_replica_whose_driver_the_node_does_not_offer_fails_with_a_reason_and_is_not_retried()
    {
        await using var h = new SupervisorHarness();
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1", t => t.Driver = Driver.Docker));

        var failed = await h.WaitForPhaseAsync("web-1", Phase.Failed);
        Assert.Equal(ExitReasons.StartFailed, failed.Reason);
        Assert.Contains("does not offer the docker driver", failed.Message, StringComparison.Ordinal);
        Assert.Null(failed.NextRetryAt);
        Assert.Equal(0, h.Runtime.StartCount);
    }

    [Fact]
    public async Task An_exit_that_arrives_before_the_start_call_returns_is_not_lost()
    {
        await using var h = new SupervisorHarness();
        h.Runtime.ExitDuringStart = 4;
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1", t => t.Restart = RestartPolicy.Never));

        var failed = await h.WaitForPhaseAsync("web-1", Phase.Failed);
        Assert.Equal(4, failed.ExitCode);
        Assert.Equal(1, h.Runtime.StartCount);
    }

    [Fact]
    public async Task An_exit_without_an_event_is_found_by_the_periodic_resync()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1"));

        h.Runtime.Crash("web-1", 9, silently: true);
        h.Time.Advance(h.Options.ResyncInterval);

        await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == 1, "restarted after the resync");
        Assert.Equal(9, h.Latest("web-1")!.ExitCode);
    }

    [Fact]
    public async Task Replicas_already_running_are_re_adopted_reported_at_once_and_kept_when_still_assigned()
    {
        var started = new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);
        await using var h = new SupervisorHarness(seed: r =>
        {
            r.Seed(Running("web-1", "pid-1", started));
            r.Seed(Running("web-old", "pid-2", started));
            r.Seed(Running("elsewhere", "pid-3", started) with { NodeName = "node-2" });
        });
        await h.StartAsync();

        // Reported for the registration before any assignment; nothing is stopped yet.
        Assert.Equal(["web-1", "web-old"], h.Supervisor.Snapshot().Select(r => r.ReplicaId));
        Assert.All(h.Supervisor.Snapshot(), r => Assert.Equal(Phase.Running, r.Status.Phase));

        var assigned = SupervisorHarness.Replica("web-1");
        assigned.Status = new ReplicaStatus { Restarts = 4 };
        h.Assign(assigned);

        var ready = await h.WaitForPhaseAsync("web-1", Phase.Ready);
        Assert.Equal(4, ready.Restarts);
        await Eventually.WaitUntilAsync(() => h.Runtime.Get("web-old") is null, "the unassigned replica is removed");
        Assert.Equal(0, h.Runtime.StartCount);
        Assert.Equal("pid-1", h.Runtime.Get("web-1")!.RuntimeId);
        Assert.NotNull(h.Runtime.Get("elsewhere"));
    }

    [Fact]
    public async Task A_replica_that_ended_while_no_agent_ran_is_restarted_once_assigned()
    {
        await using var h = new SupervisorHarness(seed: r => r.Seed(Running("web-1", "pid-1", DateTimeOffset.UnixEpoch) with
        {
            State = ReplicaState.Exited,
            ExitCode = 137,
            Reason = ExitReasons.Error,
        }));
        await h.StartAsync();
        Assert.Equal(Phase.Failed, Assert.Single(h.Supervisor.Snapshot()).Status.Phase);

        h.Assign(SupervisorHarness.Replica("web-1"));

        var ready = await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.Restarts == 1, "restarted");
        Assert.Contains("killed by signal 9", ready.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newer_generation_of_a_running_replica_fences_the_old_run_and_starts_a_new_one()
    {
        await using var h = await SupervisorHarness.WithReadyAsync(SupervisorHarness.Replica("web-1", generation: 1));

        h.Assign(SupervisorHarness.Replica("web-1", generation: 2));

        await Eventually.WaitUntilAsync(() => h.Runtime.StartCount == 2, "a second start");
        Assert.Equal(2, h.Runtime.Launches[^1].Generation);
        var report = await h.WaitForAsync("web-1", s => s.Phase == Phase.Ready && s.ObservedGeneration == 2, "ready at generation 2");
        Assert.Single(h.Runtime.Stops);
        Assert.Equal("Reassigned", report.Reason);
    }

    [Fact]
    public async Task A_failing_liveness_probe_restarts_the_replica_with_reason_Unhealthy()
    {
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        await using var h = new SupervisorHarness();
        await h.StartAsync();
        h.Assign(WithHostPort(SupervisorHarness.Replica("web-1", t => t.Health = new HealthSpec
        {
            Liveness = new Probe { Tcp = "http", Interval = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(1)), FailureThreshold = 2 },
        }), port));
        await h.WaitForPhaseAsync("web-1", Phase.Ready);

        // Checks run at absolute times (start, start + 1s), so one step of the clock brings both failures.
        h.Time.Advance(TimeSpan.FromSeconds(1));

        var restarted = await h.WaitForAsync("web-1", s => s.Restarts == 1 && s.Phase == Phase.Ready, "restarted");
        Assert.Equal("Unhealthy", restarted.Reason);
        Assert.Contains("liveness probe failed: tcp connect on port http", restarted.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(7), Assert.Single(h.Runtime.Stops).Grace);
    }

    [Fact]
    public async Task Readiness_gates_the_Ready_phase_and_a_failing_readiness_probe_takes_it_back_without_a_restart()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        await using var h = new SupervisorHarness();
        await h.StartAsync();
        h.Assign(WithHostPort(SupervisorHarness.Replica("web-1", t => t.Health = new HealthSpec
        {
            Readiness = new Probe
            {
                Tcp = "http",
                Interval = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
                InitialDelay = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
                FailureThreshold = 1,
            },
        }), port));

        // Running, but not Ready before the first check (after the initial delay) passes.
        await h.WaitForPhaseAsync("web-1", Phase.Running);
        await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, TestContext.Current.CancellationToken);
        Assert.DoesNotContain(h.Reports, r => r.Status.Phase == Phase.Ready);

        h.Time.Advance(TimeSpan.FromSeconds(1));
        var ready = await h.WaitForPhaseAsync("web-1", Phase.Ready);
        Assert.NotNull(ready.ReadyAt);

        listener.Stop();
        h.Time.Advance(TimeSpan.FromSeconds(1));
        var notReady = await h.WaitForAsync("web-1", s => s.Phase == Phase.Running && s.Reason == "NotReady", "not ready again");
        Assert.Contains("readiness probe failed", notReady.Message, StringComparison.Ordinal);
        Assert.Null(notReady.ReadyAt);
        Assert.Empty(h.Runtime.Stops);
    }

    [Fact]
    public async Task Stopping_with_StopAllOnShutdown_stops_and_removes_every_replica()
    {
        var h = new SupervisorHarness(o => o with { StopAllOnShutdown = true });
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1"), SupervisorHarness.Replica("web-2"));
        await h.WaitForPhaseAsync("web-1", Phase.Ready);
        await h.WaitForPhaseAsync("web-2", Phase.Ready);

        await h.DisposeAsync();

        Assert.Equal(["web-1", "web-2"], h.Runtime.Removes.Order(StringComparer.Ordinal));
        Assert.Empty(await h.Runtime.ListAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Stopping_without_StopAllOnShutdown_leaves_replicas_running_for_the_next_agent()
    {
        var h = new SupervisorHarness();
        await h.StartAsync();
        h.Assign(SupervisorHarness.Replica("web-1"));
        await h.WaitForPhaseAsync("web-1", Phase.Ready);

        await h.DisposeAsync();

        Assert.True(h.Runtime.IsRunning("web-1"));
        Assert.Empty(h.Runtime.Stops);
    }

    private static RuntimeReplica Running(string id, string runtimeId, DateTimeOffset started) => new()
    {
        ReplicaId = id,
        OwnerKind = "service",
        OwnerName = "web",
        Generation = 1,
        NodeName = SupervisorHarness.Node,
        RuntimeId = runtimeId,
        State = ReplicaState.Running,
        StartedAt = started,
    };

    private static Replica WithHostPort(Replica replica, int port)
    {
        replica.Spec.HostPorts["http"] = port;
        return replica;
    }
}
