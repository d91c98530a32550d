using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>The planner's rolling updates, failures, rollback, pause, lost replicas and draining nodes.</summary>
public sealed class RolloutPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly ControllerOptions Options = new() { StopTimeoutExtra = TimeSpan.FromSeconds(10), DrainTimeout = TimeSpan.FromSeconds(2), RolloutMaxRestarts = 3 };
    private readonly ServicePlanner _planner = new(Options);

    private static Service Web(int replicas, long revision, UpdateStrategy? update = null, ServiceStatus? status = null, bool paused = false, long generation = 4) => new()
    {
        Meta = new ObjectMeta { Name = "web", Generation = generation },
        Spec = new ServiceSpec
        {
            Name = "web",
            Replicas = replicas,
            Template = Template(revision),
            Update = update,
            Paused = paused,
        },
        Revision = revision,
        Status = status,
    };

    private static ReplicaTemplate Template(long revision) => new()
    {
        Driver = Driver.Process,
        Command = { "app", $"--v{revision}" },
        Ports = { new PortSpec { Name = "http", Port = 8080, Protocol = Protocol.Http } },
    };

    private static ServiceRevision Revision(long n) => new() { Service = "web", Revision = n, Template = Template(n) };

    private static ServiceStatus Stored(long stable, long current, int updated = 0, int replicas = 3, int available = 3, int secondsAgo = 0, long generation = 4, RolloutState? state = null) => new()
    {
        ObservedGeneration = generation,
        CurrentRevision = current,
        StableRevision = stable,
        UpdatedReplicas = updated,
        Replicas = replicas,
        AvailableReplicas = available,
        Rollout = state ?? (stable == current ? RolloutState.Complete : RolloutState.Progressing),
        ProgressAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-secondsAgo)),
    };

    private static Replica R(string id, long revision, Phase phase = Phase.Ready, string node = "node-1", int ageSeconds = 600, int readySecondsAgo = 300, int restarts = 0, string reason = "", DesiredState desired = DesiredState.Run, int askedSecondsAgo = 0) => new()
    {
        Meta = new ObjectMeta
        {
            Name = id,
            CreatedAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-ageSeconds)),
            UpdatedAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-(desired == DesiredState.Run ? ageSeconds : askedSecondsAgo))),
        },
        Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Revision = revision, Node = node, Desired = desired, Template = Template(revision) },
        Status = new ReplicaStatus
        {
            Phase = phase,
            Reason = reason,
            Restarts = restarts,
            ReadyAt = phase == Phase.Ready ? Timestamp.FromDateTimeOffset(Now.AddSeconds(-readySecondsAgo)) : null,
        },
    };

    private static Node N(string name, bool draining = false, NodeState state = NodeState.Ready, long cpuUsed = 0) => new()
    {
        Meta = new ObjectMeta { Name = name },
        Info = new NodeInfo { Allocatable = new Resources { CpuMillis = 4000, MemoryBytes = 8L << 30 } },
        Spec = new NodeSpec { Draining = draining },
        Status = new NodeStatus { State = state, Allocated = new Resources { CpuMillis = cpuUsed } },
    };

    private static UpdateStrategy Update(int surge = 1, int unavailable = 0, bool percent = false, int minReadySeconds = 0, int deadlineSeconds = 120, OnFailure onFailure = OnFailure.Rollback) => new()
    {
        MaxSurge = new IntOrPercent { Value = surge, Percent = percent },
        MaxUnavailable = new IntOrPercent { Value = unavailable, Percent = percent },
        MinReady = Duration.FromTimeSpan(TimeSpan.FromSeconds(minReadySeconds)),
        ProgressDeadline = Duration.FromTimeSpan(TimeSpan.FromSeconds(deadlineSeconds)),
        OnFailure = onFailure,
    };

    private static string[] Retired(ServicePlan plan) =>
        [.. plan.Actions.Select(a => a switch { StopReplica s => s.Id, DrainReplica d => d.Id, _ => null }).OfType<string>()];

    private static int Created(ServicePlan plan) => plan.Actions.OfType<CreateReplica>().Count();

    private static Replica[] Old3() => [R("web-o1", 1, ageSeconds: 900), R("web-o2", 1, ageSeconds: 800), R("web-o3", 1, ageSeconds: 700)];

    [Fact]
    public void Percentages_surge_rounds_up_and_unavailable_rounds_down_like_kubernetes()
    {
        // 4 replicas, 25% each: surge 1, unavailable 1. One old replica goes, two new come.
        var old = Enumerable.Range(1, 4).Select(i => R($"web-o{i}", 1, ageSeconds: 900 - i)).ToArray();
        var plan = _planner.Plan(Web(4, 2, Update(25, 25, percent: true), Stored(1, 1, replicas: 4, available: 4)), old, [N("node-1")], [Revision(1), Revision(2)], Now);

        Assert.Equal(["web-o4"], Retired(plan));
        Assert.IsType<DrainReplica>(plan.Actions.First(a => a is DrainReplica or StopReplica));
        Assert.Equal(2, Created(plan));
        Assert.Contains(plan.Actions.OfType<RecordEvent>(), e => e.Reason == "RolloutStarted" && e.Message.Contains("maxSurge 1, maxUnavailable 1", StringComparison.Ordinal));

        // 3 replicas, 30%: surge 1 (0.9 up), unavailable 0 (0.9 down): nothing stops first.
        plan = _planner.Plan(Web(3, 2, Update(30, 30, percent: true), Stored(1, 1)), Old3(), [N("node-1")], [Revision(1), Revision(2)], Now);
        Assert.Empty(Retired(plan));
        Assert.Equal(1, Created(plan));
    }

    [Fact]
    public void A_new_replica_counts_as_available_only_after_being_ready_for_min_ready()
    {
        var service = Web(3, 2, Update(minReadySeconds: 10), Stored(1, 2, updated: 1, replicas: 4, available: 3, secondsAgo: 5));
        var plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, readySecondsAgo: 4, ageSeconds: 20)], [N("node-1")], null, Now);

        Assert.Empty(plan.Actions);
        Assert.Equal(TimeSpan.FromSeconds(6), plan.RequeueAfter);
        Assert.Equal(3, plan.Status!.AvailableReplicas);

        plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, readySecondsAgo: 10, ageSeconds: 20)], [N("node-1")], null, Now);
        Assert.Equal(["web-o3"], Retired(plan));
        Assert.Equal(1, Created(plan));
    }

    [Fact]
    public void A_rollout_without_progress_for_the_deadline_rolls_back_to_the_stable_revision()
    {
        var service = Web(3, 2, Update(deadlineSeconds: 60), Stored(1, 2, updated: 1, replicas: 4, available: 3, secondsAgo: 60));
        var plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, phase: Phase.Running, ageSeconds: 60)], [N("node-1")], [Revision(1), Revision(2)], Now);

        var rollBack = Assert.Single(plan.Actions.OfType<RollBack>());
        Assert.Equal((2L, 1L, "app --v1"), (rollBack.FromRevision, rollBack.ToRevision, string.Join(' ', rollBack.Template.Command)));
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
        Assert.Empty(Retired(plan));
        var e = Assert.Single(plan.Actions.OfType<RecordEvent>());
        Assert.Equal((EventType.Warning, "RolledBack", "Rolled back from revision 2 to revision 1: no progress for 1m (progressDeadline)"), (e.Type, e.Reason, e.Message));
        var status = plan.Status!;
        Assert.Equal((RolloutState.RolledBack, "ProgressDeadlineExceeded", 1L, 2L, 5L), (status.Rollout, status.Reason, status.CurrentRevision, status.FailedRevision, status.ObservedGeneration));

        // One second earlier, the rollout still waits, and asks to be looked at when the deadline passes.
        service.Status.ProgressAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-59));
        plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, phase: Phase.Running, ageSeconds: 60)], [N("node-1")], [Revision(1), Revision(2)], Now);
        Assert.Empty(plan.Actions);
        Assert.Equal(TimeSpan.FromSeconds(1), plan.RequeueAfter);
    }

    [Theory]
    [InlineData(Phase.Failed, "CrashLoopBackOff", 1, "CrashLoopBackOff")]
    [InlineData(Phase.Running, "", 3, "CrashLoopBackOff")]
    [InlineData(Phase.Failed, "ImageNotFound", 0, "ImageNotFound")]
    public void A_crash_looping_or_unstartable_new_replica_rolls_back_at_once(Phase phase, string reason, int restarts, string expected)
    {
        var service = Web(3, 2, Update(), Stored(1, 2, updated: 1, replicas: 4, available: 3, secondsAgo: 5));
        var plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, phase: phase, reason: reason, restarts: restarts)], [N("node-1")], [Revision(1), Revision(2)], Now);

        Assert.Single(plan.Actions.OfType<RollBack>());
        Assert.Equal((RolloutState.RolledBack, expected), (plan.Status!.Rollout, plan.Status.Reason));
        Assert.Contains("web-n1", plan.Status.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_single_crash_does_not_fail_the_rollout()
    {
        var service = Web(3, 2, Update(), Stored(1, 2, updated: 1, replicas: 4, available: 3, secondsAgo: 5));
        var plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, phase: Phase.Failed, reason: "CrashLoopBackOff", restarts: 0)], [N("node-1")], [Revision(1), Revision(2)], Now);

        Assert.Empty(plan.Actions.OfType<RollBack>());
        Assert.Equal(RolloutState.Progressing, plan.Status!.Rollout);
    }

    [Fact]
    public void After_a_rollback_the_status_stays_rolled_back_while_the_old_revision_replaces_the_failed_replicas()
    {
        var status = Stored(1, 1, updated: 3, replicas: 4, available: 3, generation: 5, state: RolloutState.RolledBack);
        status.FailedRevision = 2;
        status.Reason = "CrashLoopBackOff";
        status.Message = "rollout of revision 2 failed (...); rolled back to revision 1";
        var service = Web(3, 1, Update(), status, generation: 5);
        var plan = _planner.Plan(service, [.. Old3(), R("web-n1", 2, phase: Phase.Failed, reason: "CrashLoopBackOff", restarts: 2)], [N("node-1")], [Revision(1), Revision(2)], Now);

        Assert.Equal(["web-n1"], Retired(plan));
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
        Assert.Empty(plan.Actions.OfType<RollBack>());
        Assert.Equal((RolloutState.RolledBack, 2L, "CrashLoopBackOff", 1L), (plan.Status!.Rollout, plan.Status.FailedRevision, plan.Status.Reason, plan.Status.StableRevision));
    }

    [Fact]
    public void With_on_failure_pause_a_failed_rollout_halts_and_stays_halted_until_the_spec_changes()
    {
        var service = Web(3, 2, Update(onFailure: OnFailure.Pause), Stored(1, 2, updated: 1, replicas: 4, available: 3, secondsAgo: 5));
        var replicas = new[] { R("web-o1", 1), R("web-o2", 1), R("web-n1", 2, phase: Phase.Failed, reason: "CrashLoopBackOff", restarts: 2) };
        var plan = _planner.Plan(service, replicas, [N("node-1")], [Revision(1), Revision(2)], Now);

        Assert.Empty(plan.Actions.OfType<RollBack>());
        Assert.Empty(Retired(plan));
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
        var e = Assert.Single(plan.Actions.OfType<RecordEvent>());
        Assert.Equal((EventType.Warning, "RolloutFailed"), (e.Type, e.Reason));
        Assert.Equal((RolloutState.Failed, 2L, 1L), (plan.Status!.Rollout, plan.Status.FailedRevision, plan.Status.StableRevision));

        // The next pass, same generation: still halted, no second event; a lost replica is still replaced.
        service.Status = plan.Status;
        var lost = R("web-o2", 1, phase: Phase.Lost);
        plan = _planner.Plan(service, [replicas[0], lost, replicas[2]], [N("node-1")], [Revision(1), Revision(2)], Now.AddMinutes(10));
        Assert.Equal(RolloutState.Failed, plan.Status!.Rollout);
        Assert.Empty(plan.Actions.OfType<RecordEvent>());
        Assert.Equal(["web-o2"], Retired(plan));
        Assert.Equal(1, Created(plan));

        // A resume (generation + 1) starts the rollout again, with a fresh deadline; while the
        // new replica still crash-loops it fails again at once.
        var resumed = Web(3, 2, Update(onFailure: OnFailure.Pause), plan.Status, generation: 5);
        Assert.Equal(RolloutState.Failed, _planner.Plan(resumed, replicas, [N("node-1")], [Revision(1), Revision(2)], Now).Status!.Rollout);
        plan = _planner.Plan(resumed, [replicas[0], replicas[1], R("web-n1", 2, phase: Phase.Running)], [N("node-1")], [Revision(1), Revision(2)], Now);
        Assert.Equal(RolloutState.Progressing, plan.Status!.Rollout);
        Assert.Equal(Now, plan.Status.ProgressAt.ToDateTimeOffset());
    }

    [Fact]
    public void A_first_revision_that_fails_has_nothing_to_roll_back_to()
    {
        var service = Web(2, 1, Update(), new ServiceStatus { ObservedGeneration = 4, CurrentRevision = 1, UpdatedReplicas = 2, Replicas = 2, ProgressAt = Timestamp.FromDateTimeOffset(Now) });
        var plan = _planner.Plan(service, [R("web-n1", 1, phase: Phase.Failed, reason: "CommandNotFound"), R("web-n2", 1)], [N("node-1")], [Revision(1)], Now);

        Assert.Empty(plan.Actions.OfType<RollBack>());
        Assert.Equal(RolloutState.Failed, plan.Status!.Rollout);
        Assert.Contains("nothing to roll back to", plan.Status.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_paused_service_replaces_nothing_but_still_scales()
    {
        var paused = Web(3, 2, Update(), Stored(1, 2, updated: 1, replicas: 4, available: 4), paused: true);
        var plan = _planner.Plan(paused, [.. Old3(), R("web-n1", 2)], [N("node-1")], null, Now);
        Assert.Empty(Retired(plan));
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
        Assert.Equal((RolloutState.Paused, "Paused"), (plan.Status!.Rollout, plan.Status.Reason));
        Assert.Equal("RolloutPaused", Assert.Single(plan.Actions.OfType<RecordEvent>()).Reason);

        // Nothing to replace: a scale-up goes ahead while paused.
        plan = _planner.Plan(Web(5, 1, Update(), Stored(1, 1), paused: true), Old3(), [N("node-1")], null, Now);
        Assert.Equal(2, Created(plan));
    }

    [Fact]
    public void Resuming_a_paused_rollout_says_so_once_and_goes_on_replacing()
    {
        var resumed = Web(3, 2, Update(), Stored(1, 2, updated: 1, replicas: 4, available: 4, state: RolloutState.Paused));
        var plan = _planner.Plan(resumed, [.. Old3(), R("web-n1", 2)], [N("node-1")], null, Now);
        Assert.Equal(RolloutState.Progressing, plan.Status!.Rollout);
        Assert.Equal("RolloutResumed", Assert.Single(plan.Actions.OfType<RecordEvent>()).Reason);
        Assert.NotEmpty(Retired(plan));

        // The next pass sees a progressing rollout: no second event.
        plan = _planner.Plan(Web(3, 2, Update(), plan.Status), [.. Old3(), R("web-n1", 2)], [N("node-1")], null, Now);
        Assert.DoesNotContain(plan.Actions.OfType<RecordEvent>(), e => e.Reason == "RolloutResumed");
    }

    [Fact]
    public void A_lost_replica_is_stopped_and_replaced_at_once_outside_the_surge()
    {
        // Mid-rollout at replicas + maxSurge active: the lost one still gets a replacement now.
        var service = Web(3, 2, Update(), Stored(1, 2, updated: 1, replicas: 4, available: 3));
        var replicas = new[] { R("web-o1", 1), R("web-o2", 1), R("web-o3", 1, phase: Phase.Lost, node: "node-2"), R("web-n1", 2, phase: Phase.Running) };
        var plan = _planner.Plan(service, replicas, [N("node-1"), N("node-2")], null, Now);

        var stop = Assert.Single(plan.Actions.OfType<StopReplica>());
        Assert.Equal(("web-o3", "its node node-2 was lost; a replacement is created"), (stop.Id, stop.Why));
        Assert.Equal("to replace 1 lost replica", Assert.Single(plan.Actions.OfType<CreateReplica>()).Why);
    }

    [Fact]
    public void A_replica_on_a_draining_node_is_replaced_first_and_stopped_once_the_replacement_is_available()
    {
        var service = Web(2, 1, Update(), Stored(1, 1, replicas: 2, available: 2));
        var nodes = new[] { N("node-1", draining: true), N("node-2") };
        var plan = _planner.Plan(service, [R("web-a", 1, node: "node-1"), R("web-b", 1, node: "node-2")], nodes, null, Now);
        Assert.Empty(Retired(plan));
        Assert.Equal(1, Created(plan));

        plan = _planner.Plan(service, [R("web-a", 1, node: "node-1"), R("web-b", 1, node: "node-2"), R("web-c", 1, node: "node-2", ageSeconds: 10)], nodes, null, Now);
        var drain = Assert.Single(plan.Actions.OfType<DrainReplica>());
        Assert.Equal(("web-a", "its node node-1 is draining; replaced on another node"), (drain.Id, drain.Why));
        Assert.Equal(0, Created(plan));

        // A node that is Down displaces its replicas the same way.
        plan = _planner.Plan(service, [R("web-a", 1, node: "node-1"), R("web-b", 1, node: "node-2")], [N("node-1", state: NodeState.Down), N("node-2")], null, Now);
        Assert.Equal(1, Created(plan));

        // So does a node that is gone; with maxUnavailable 1 it may go before its replacement is ready.
        plan = _planner.Plan(Web(2, 1, Update(unavailable: 1), Stored(1, 1, replicas: 2, available: 2)), [R("web-a", 1, node: "node-1"), R("web-b", 1, node: "node-2")], [N("node-2")], null, Now);
        Assert.Equal("its node node-1 no longer exists; replaced on another node", Assert.Single(plan.Actions.OfType<DrainReplica>()).Why);
        Assert.Equal(1, Created(plan));
    }

    private static DrainGate Gate(long version, string[] published, params (string Node, long Acked)[] nodes) =>
        new(version, published.ToHashSet(StringComparer.Ordinal), [.. nodes.Select(n => new NodeAck(n.Node, n.Acked))]);

    [Fact]
    public void A_draining_replica_stops_once_every_connected_node_acked_endpoints_without_it()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 1, available: 1));
        var draining = R("web-b", 1, desired: DesiredState.Drain, askedSecondsAgo: 1, phase: Phase.Draining);

        // node-2 still holds version 49, which routes to web-b: wait, at most until the timeout.
        var plan = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a"], ("node-1", 50), ("node-2", 49)));
        Assert.Empty(plan.Actions);
        Assert.Equal(TimeSpan.FromSeconds(1), plan.RequeueAfter);

        // A later version counts too: it has every change up to it.
        plan = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a"], ("node-1", 50), ("node-2", 53)));
        var stop = Assert.Single(plan.Actions.OfType<StopReplica>());
        Assert.Equal(("web-b", "out of traffic: 2 connected nodes acknowledged endpoints version 50 without it"), (stop.Id, stop.Why));
        Assert.Empty(plan.Actions.OfType<RecordEvent>());
    }

    [Fact]
    public void A_replica_still_in_the_published_endpoints_waits_for_the_endpoints_controller()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 1, available: 1));
        var draining = R("web-b", 1, desired: DesiredState.Drain, askedSecondsAgo: 0, phase: Phase.Draining);

        // Every node acked, but the version they acked still has web-b in it.
        var plan = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a", "web-b"], ("node-1", 50)));

        Assert.Empty(plan.Actions);
        Assert.Equal(TimeSpan.FromSeconds(2), plan.RequeueAfter);
    }

    [Fact]
    public void A_drain_ends_at_the_timeout_with_a_warning_naming_each_lagging_node_and_its_ack()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 1, available: 1));
        var draining = R("web-b", 1, desired: DesiredState.Drain, askedSecondsAgo: 2, phase: Phase.Draining);

        var plan = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a"], ("node-3", 0), ("node-1", 50), ("node-2", 42)));

        Assert.Equal("web-b", Assert.Single(plan.Actions.OfType<StopReplica>()).Id);
        var warning = Assert.Single(plan.Actions.OfType<RecordEvent>());
        Assert.Equal((EventType.Warning, ServicePlanner.DrainTimedOut), (warning.Type, warning.Reason));
        Assert.Equal(
            "Stopping replica web-b after the drain timeout of 2s: 2 connected nodes had not acknowledged endpoints version 50, which no longer routes to it: node-2 (acked 42), node-3 (no ack); their proxies may still send it requests",
            warning.Message);
    }

    [Fact]
    public void A_drain_timeout_names_ten_lagging_nodes_and_counts_the_rest()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 1, available: 1));
        var draining = R("web-b", 1, desired: DesiredState.Drain, askedSecondsAgo: 5, phase: Phase.Draining);
        var nodes = Enumerable.Range(1, 1000).Select(i => ($"node-{i:D4}", 7L)).ToArray();

        var plan = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a"], nodes));

        var warning = Assert.Single(plan.Actions.OfType<RecordEvent>());
        Assert.Contains("1000 connected nodes had not acknowledged", warning.Message, StringComparison.Ordinal);
        Assert.Contains("node-0010 (acked 7) and 990 more;", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("node-0011", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_replica_left_in_the_endpoints_past_the_timeout_is_stopped_with_a_warning()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 1, available: 1));
        var draining = R("web-b", 1, desired: DesiredState.Drain, askedSecondsAgo: 3, phase: Phase.Draining);

        var plan = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a", "web-b"], ("node-1", 50)));

        Assert.Equal("web-b", Assert.Single(plan.Actions.OfType<StopReplica>()).Id);
        Assert.Contains("still in the endpoints of its service (version 50)", Assert.Single(plan.Actions.OfType<RecordEvent>()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_draining_replica_of_a_service_with_nothing_published_or_no_connected_node_stops_at_once()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 1, available: 1));
        var draining = R("web-b", 1, desired: DesiredState.Drain, askedSecondsAgo: 0, phase: Phase.Draining);

        var none = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, DrainGate.NothingPublished);
        var alone = _planner.Plan(service, [R("web-a", 1), draining], [N("node-1")], null, Now, Gate(50, ["web-a"]));

        Assert.Equal("no endpoints of its service are published, so no proxy routes to it", Assert.Single(none.Actions.OfType<StopReplica>()).Why);
        Assert.Equal("web-b", Assert.Single(alone.Actions.OfType<StopReplica>()).Id);
        Assert.Empty(none.Actions.OfType<RecordEvent>().Concat(alone.Actions.OfType<RecordEvent>()));
    }

    [Fact]
    public void A_replica_that_never_became_ready_or_has_no_ports_stops_without_draining()
    {
        var service = Web(1, 1, Update(), Stored(1, 1, replicas: 2, available: 1));
        var starting = R("web-b", 1, phase: Phase.Running, ageSeconds: 10);
        var plan = _planner.Plan(service, [R("web-a", 1), starting], [N("node-1")], null, Now);
        Assert.Equal("web-b", Assert.Single(plan.Actions.OfType<StopReplica>()).Id);
        Assert.Empty(plan.Actions.OfType<DrainReplica>());

        var portless = R("web-b", 1, ageSeconds: 10);
        portless.Spec.Template.Ports.Clear();
        plan = _planner.Plan(service, [R("web-a", 1), portless], [N("node-1")], null, Now);
        Assert.Equal("web-b", Assert.Single(plan.Actions.OfType<StopReplica>()).Id);
        Assert.Empty(plan.Actions.OfType<DrainReplica>());
    }

    [Fact]
    public void Scaling_down_takes_ready_replicas_from_the_node_with_most_of_the_service_then_the_most_allocated()
    {
        var replicas = new[]
        {
            R("web-a", 1, node: "node-1", ageSeconds: 100),
            R("web-b", 1, node: "node-2", ageSeconds: 500),
            R("web-c", 1, node: "node-2", ageSeconds: 400),
            R("web-d", 1, node: "node-3", ageSeconds: 300),
        };
        var nodes = new[] { N("node-1", cpuUsed: 100), N("node-2"), N("node-3", cpuUsed: 3000) };

        var plan = _planner.Plan(Web(2, 1, Update(), Stored(1, 1, replicas: 4, available: 4)), replicas, nodes, null, Now);

        // node-2 holds two: its newest goes first; then every node holds one, and node-3 is the fullest.
        Assert.Equal(["web-c", "web-d"], Retired(plan));
    }

    [Fact]
    public void A_rollout_that_completes_makes_its_revision_stable_and_says_so_once()
    {
        var service = Web(2, 2, Update(), Stored(1, 2, updated: 2, replicas: 3, available: 2));
        var plan = _planner.Plan(service, [R("web-o1", 1, phase: Phase.Draining, desired: DesiredState.Drain, askedSecondsAgo: 1), R("web-n1", 2), R("web-n2", 2)], [N("node-1")], null, Now);

        Assert.Equal((RolloutState.Complete, 2L, 0L), (plan.Status!.Rollout, plan.Status.StableRevision, plan.Status.FailedRevision));
        Assert.Equal("RolloutComplete", Assert.Single(plan.Actions.OfType<RecordEvent>()).Reason);

        service.Status = plan.Status;
        plan = _planner.Plan(service, [R("web-n1", 2), R("web-n2", 2)], [N("node-1")], null, Now);
        Assert.Empty(plan.Actions);
        Assert.Null(plan.RequeueAfter);
    }
}
