using Orchestrator.ControlPlane.Nodes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

public sealed class ReplicaTransitionsTests
{
    [Fact]
    public void Starting_then_running_then_ready_are_told_in_plain_words()
    {
        var starting = new ReplicaStatus { Phase = Phase.Starting, Message = "starting" };
        var running = new ReplicaStatus { Phase = Phase.Running };
        var ready = new ReplicaStatus { Phase = Phase.Ready, Endpoints = { ["http"] = new Endpoint { Address = "127.0.0.2", Port = 20001 } } };

        Assert.Empty(ReplicaTransitions.For("node-1", null, starting));
        Assert.Equal([new ReplicaTransitionEvent(EventType.Normal, "Started", "started on node-1")], ReplicaTransitions.For("node-1", starting, running));
        Assert.Equal(
            [new ReplicaTransitionEvent(EventType.Normal, "Ready", "ready on node-1 at http=127.0.0.2:20001")],
            ReplicaTransitions.For("node-1", running, ready));
    }

    [Fact]
    public void A_restart_after_a_failed_liveness_probe_is_a_warning_named_Unhealthy()
    {
        var ready = new ReplicaStatus { Phase = Phase.Ready };
        var restarting = new ReplicaStatus
        {
            Phase = Phase.Starting,
            Reason = "Unhealthy",
            Restarts = 1,
            Message = "restarting after: liveness probe failed: http GET /healthz on port http: status 503",
        };

        var events = ReplicaTransitions.For("node-2", ready, restarting);

        Assert.Equal(
            [new ReplicaTransitionEvent(EventType.Warning, "Unhealthy", "restarted on node-2 (restart 1): restarting after: liveness probe failed: http GET /healthz on port http: status 503")],
            events);
    }

    [Fact]
    public void A_crash_loop_back_off_and_a_failure_and_a_stop_are_each_an_event_with_the_agents_reason()
    {
        var ready = new ReplicaStatus { Phase = Phase.Ready };
        var backoff = new ReplicaStatus { Phase = Phase.Failed, Reason = "CrashLoopBackOff", Message = "exited with code 1; restarting in 500ms" };
        var stopped = new ReplicaStatus { Phase = Phase.Succeeded, Reason = "Stopped", Message = "stopped as the control plane asked" };

        Assert.Equal(
            [new ReplicaTransitionEvent(EventType.Warning, "CrashLoopBackOff", "failed on node-1: exited with code 1; restarting in 500ms")],
            ReplicaTransitions.For("node-1", ready, backoff));
        Assert.Equal(
            [new ReplicaTransitionEvent(EventType.Normal, "Stopped", "ended on node-1: stopped as the control plane asked")],
            ReplicaTransitions.For("node-1", ready, stopped));
        Assert.Equal(
            [new ReplicaTransitionEvent(EventType.Warning, "NotReady", "not ready on node-1: readiness probe failed")],
            ReplicaTransitions.For("node-1", ready, new ReplicaStatus { Phase = Phase.Running, Reason = "NotReady", Message = "readiness probe failed" }));
    }

    [Fact]
    public void An_unchanged_phase_and_reason_is_no_event()
    {
        var ready = new ReplicaStatus { Phase = Phase.Ready, Message = "ready" };

        Assert.Empty(ReplicaTransitions.For("node-1", ready, ready.Clone()));
    }
}
