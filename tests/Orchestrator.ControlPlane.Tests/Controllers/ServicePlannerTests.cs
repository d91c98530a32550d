using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

public sealed class ServicePlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly ControllerOptions Options = new() { StopTimeoutExtra = TimeSpan.FromSeconds(10), DrainTimeout = TimeSpan.FromSeconds(2), RolloutMaxRestarts = 3 };
    private readonly ServicePlanner _planner = new(Options);

    internal static Service Web(int replicas, long revision = 1, string image = "nginx:1.27", UpdateStrategy? update = null, ServiceStatus? status = null, bool paused = false, long generation = 4) => new()
    {
        Meta = new ObjectMeta { Name = "web", Generation = generation },
        Spec = new ServiceSpec
        {
            Name = "web",
            Replicas = replicas,
            Template = new ReplicaTemplate { Driver = Driver.Docker, Image = image, StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) },
            Update = update,
            Paused = paused,
        },
        Revision = revision,
        Status = status,
    };

    /// <summary>What a pass stored when revision <paramref name="stable"/> had completed and <paramref name="current"/> was being rolled out.</summary>
    internal static ServiceStatus Stored(long stable, long current, int updated = 0, int replicas = 3, int available = 3, int secondsAgo = 0, long generation = 4) => new()
    {
        ObservedGeneration = generation,
        CurrentRevision = current,
        StableRevision = stable,
        UpdatedReplicas = updated,
        Replicas = replicas,
        AvailableReplicas = available,
        Rollout = stable == current ? RolloutState.Complete : RolloutState.Progressing,
        ProgressAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-secondsAgo)),
    };

    private static Replica R(string id, long revision = 1, Phase phase = Phase.Ready, string node = "node-1", DesiredState desired = DesiredState.Run, int ageSeconds = 600, int stopAskedSecondsAgo = 0) => new()
    {
        Meta = new ObjectMeta
        {
            Name = id,
            CreatedAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-ageSeconds)),
            UpdatedAt = Timestamp.FromDateTimeOffset(Now.AddSeconds(-(desired == DesiredState.Run ? ageSeconds : stopAskedSecondsAgo))),
        },
        Spec = new ReplicaSpec
        {
            Owner = new OwnerRef { Kind = "service", Name = "web" },
            Revision = revision,
            Node = node,
            Desired = desired,
            Generation = 2,
            Template = new ReplicaTemplate { StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) },
        },
        Status = new ReplicaStatus { Phase = phase },
    };

    private static string[] Stopped(ServicePlan plan) => plan.Actions.OfType<StopReplica>().Select(a => a.Id).ToArray();

    private static string[] Removed(ServicePlan plan) => plan.Actions.OfType<RemoveReplica>().Select(a => a.Id).ToArray();

    [Fact]
    public void A_new_service_gets_one_replica_of_its_revision_per_desired_replica()
    {
        var plan = _planner.Plan(Web(3, revision: 2), [], Now);

        var creates = plan.Actions.Cast<CreateReplica>().ToList();
        Assert.Equal(3, creates.Count);
        Assert.All(creates, c => Assert.Equal((2L, "nginx:1.27", "to reach 3 replicas"), (c.Revision, c.Template.Image, c.Why)));
        var status = plan.Status!;
        Assert.Equal((4L, 2L, 3, 0, 3, RolloutState.Progressing), (status.ObservedGeneration, status.CurrentRevision, status.Replicas, status.ReadyReplicas, status.UpdatedReplicas, status.Rollout));
    }

    [Fact]
    public void A_service_at_its_count_with_every_replica_ready_needs_nothing_and_is_complete()
    {
        var plan = _planner.Plan(Web(2, status: Stored(1, 1, updated: 2, replicas: 2, available: 2, secondsAgo: 60)), [R("web-aaaaa"), R("web-bbbbb")], Now);

        Assert.Empty(plan.Actions);
        Assert.Null(plan.RequeueAfter);
        Assert.Equal((2, 2, 2, RolloutState.Complete), (plan.Status!.Replicas, plan.Status.ReadyReplicas, plan.Status.UpdatedReplicas, plan.Status.Rollout));
    }

    [Fact]
    public void Scaling_down_stops_unplaced_replicas_first_then_not_ready_ones_then_the_newest()
    {
        var replicas = new[]
        {
            R("web-ready-old", ageSeconds: 900),
            R("web-ready-new", ageSeconds: 100),
            R("web-ready-mid", ageSeconds: 500),
            R("web-starting", phase: Phase.Starting, ageSeconds: 950),
            R("web-pending", phase: Phase.Pending, node: "", ageSeconds: 990),
        };

        Assert.Equal(["web-pending"], Stopped(_planner.Plan(Web(4), replicas, Now)));
        Assert.Equal(["web-pending", "web-starting"], Stopped(_planner.Plan(Web(3), replicas, Now)));
        Assert.Equal(["web-pending", "web-starting", "web-ready-new", "web-ready-mid"], Stopped(_planner.Plan(Web(1), replicas, Now)));
        var plan = _planner.Plan(Web(1), replicas, Now);
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
        Assert.All(plan.Actions.OfType<StopReplica>(), s => Assert.Equal("scaled down to 1 replica", s.Why));
    }

    [Fact]
    public void Scaling_up_creates_only_the_missing_replicas()
    {
        var plan = _planner.Plan(Web(5), [R("web-aaaaa"), R("web-bbbbb")], Now);

        Assert.Equal(3, plan.Actions.OfType<CreateReplica>().Count());
        Assert.Empty(Stopped(plan));
    }

    [Fact]
    public void A_template_change_replaces_old_replicas_one_at_a_time_with_a_surge_of_one()
    {
        var service = Web(3, revision: 2);
        var old = new[] { R("web-old1", ageSeconds: 900), R("web-old2", ageSeconds: 800), R("web-old3", ageSeconds: 700) };

        // Step 1: one new replica, no old one stopped.
        var plan = _planner.Plan(service, old, Now);
        Assert.Equal(2L, Assert.Single(plan.Actions.OfType<CreateReplica>()).Revision);
        Assert.Empty(Stopped(plan));
        Assert.Equal((RolloutState.Progressing, 1, 4), (plan.Status!.Rollout, plan.Status.UpdatedReplicas, plan.Status.Replicas));

        // The new replica is starting (an agent reports on it): wait, whatever the time.
        plan = _planner.Plan(service, [.. old, R("web-new1", revision: 2, phase: Phase.Running, ageSeconds: 3600)], Now);
        Assert.Empty(plan.Actions);

        // It is Ready: one old replica (the newest) stops and the next new one is created.
        plan = _planner.Plan(service, [.. old, R("web-new1", revision: 2, ageSeconds: 10)], Now);
        Assert.Equal(["web-old3"], Stopped(plan));
        Assert.Equal("replaced by revision 2", plan.Actions.OfType<StopReplica>().Single().Why);
        Assert.Single(plan.Actions.OfType<CreateReplica>());

        // Two new ready, one old left: the last one goes, nothing more to create.
        var stopping = R("web-old3", desired: DesiredState.Stop, stopAskedSecondsAgo: 1);
        plan = _planner.Plan(service, [old[0], old[1], stopping, R("web-new1", revision: 2), R("web-new2", revision: 2)], Now);
        Assert.Equal(["web-old2"], Stopped(plan));
        Assert.Single(plan.Actions.OfType<CreateReplica>());

        // All new and ready, old ones gone: complete.
        plan = _planner.Plan(service, [R("web-new1", revision: 2), R("web-new2", revision: 2), R("web-new3", revision: 2)], Now);
        Assert.Equal("RolloutComplete", Assert.Single(plan.Actions.OfType<RecordEvent>()).Reason);
        Assert.Equal(plan.Actions.Count, plan.Actions.OfType<RecordEvent>().Count());
        Assert.Equal((RolloutState.Complete, 3, 3), (plan.Status!.Rollout, plan.Status.UpdatedReplicas, plan.Status.ReadyReplicas));
    }

    [Fact]
    public void A_stopping_replica_is_removed_once_it_ended_or_after_its_grace_plus_the_timeout()
    {
        var replicas = new[]
        {
            R("web-ended", phase: Phase.Succeeded, desired: DesiredState.Stop, stopAskedSecondsAgo: 2),
            R("web-failed", phase: Phase.Failed, desired: DesiredState.Stop, stopAskedSecondsAgo: 2),
            R("web-unplaced", phase: Phase.Pending, node: "", desired: DesiredState.Stop, stopAskedSecondsAgo: 0),
            R("web-running", phase: Phase.Running, desired: DesiredState.Stop, stopAskedSecondsAgo: 5),
            R("web-silent", phase: Phase.Running, desired: DesiredState.Stop, stopAskedSecondsAgo: 15),
            R("web-keep"),
        };

        var plan = _planner.Plan(Web(1), replicas, Now);

        Assert.Equal(["web-ended", "web-failed", "web-silent", "web-unplaced"], Removed(plan).Order(StringComparer.Ordinal));
        Assert.Equal("no report that it stopped within 15s of the stop request", plan.Actions.OfType<RemoveReplica>().Single(r => r.Id == "web-silent").Why);
        Assert.Empty(Stopped(plan));
        Assert.Empty(plan.Actions.OfType<CreateReplica>());

        // web-running's grace (5s) + 10s ends 10s from now.
        Assert.Equal(TimeSpan.FromSeconds(10), plan.RequeueAfter);
        Assert.Equal(1, plan.Status!.Replicas);
    }

    [Fact]
    public void Replicas_of_a_deleted_service_are_stopped_and_then_removed_and_no_status_is_written()
    {
        var replicas = new[] { R("web-aaaaa"), R("web-bbbbb", phase: Phase.Pending, node: ""), R("web-ccccc", phase: Phase.Failed, desired: DesiredState.Stop) };

        var plan = _planner.Plan(null, replicas, Now);

        Assert.Equal(["web-aaaaa", "web-bbbbb"], Stopped(plan));
        Assert.All(plan.Actions.OfType<StopReplica>(), s => Assert.Equal("its service was deleted", s.Why));
        Assert.Equal(["web-ccccc"], Removed(plan));
        Assert.Null(plan.Status);
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
    }

    [Fact]
    public void Scaling_to_zero_stops_every_replica()
    {
        var plan = _planner.Plan(Web(0), [R("web-aaaaa"), R("web-bbbbb", revision: 0)], Now);

        Assert.Equal(["web-aaaaa", "web-bbbbb"], Stopped(plan).Order(StringComparer.Ordinal));
        Assert.Empty(plan.Actions.OfType<CreateReplica>());
        Assert.Equal((0, RolloutState.Complete), (plan.Status!.Replicas, plan.Status.Rollout));
    }
}
