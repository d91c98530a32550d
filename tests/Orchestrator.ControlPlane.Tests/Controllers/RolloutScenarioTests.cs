using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>
/// Whole rollouts on a real SQLite store and the fake clock: specs applied through the apply
/// path, the service reconciler run pass after pass, and a simulated agent that places, starts,
/// readies (or crashes) and stops replicas by writing what a node stream would.
/// </summary>
public sealed class RolloutScenarioTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-rollout");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ControllerOptions _options = new() { DrainTimeout = TimeSpan.FromSeconds(2) };
    private SqliteStateStore? _store;
    private ServiceReconciler? _reconciler;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    /// <summary>Replicas of these revisions crash when started.</summary>
    private HashSet<long> Crashing { get; } = [];

    private List<string> Log { get; } = [];

    public async ValueTask InitializeAsync()
    {
        _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);
        var events = new EventRecorder(Store, _time, _options, NullLogger<EventRecorder>.Instance);
        _reconciler = new ServiceReconciler(Store, _time, _options, events, NullLogger<ServiceReconciler>.Instance);
        var node = new Node { Meta = new ObjectMeta { Name = "node-1" }, Info = new NodeInfo { Address = "127.0.0.2" }, Spec = new NodeSpec() };
        await Store.TxnAsync(
            new Txn([], [TxnOp.Put(StoreKeys.Node("node-1"), ProtoJson.Encode(node)), TxnOp.Put(StoreKeys.NodeStatus("node-1"), ProtoJson.Encode(new NodeStatus { State = NodeState.Ready }))], []),
            Ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private static string Spec(string version, int replicas = 3, string update = "{ maxSurge: 1, maxUnavailable: 0, progressDeadline: 1m }") => $"""
        kind: Service
        name: web
        replicas: {replicas}
        driver: process
        command: ["app", "{version}"]
        ports:
          - {"{"} name: http, port: 8080 {"}"}
        update: {update}
        """;

    private async Task<ApplyResult> ApplyAsync(string yaml)
    {
        var parsed = SpecParser.Parse(yaml, "web.yaml");
        Assert.Empty(parsed.Errors);
        var applier = new SpecApplier(Store, _time, NullLogger<SpecApplier>.Instance);
        return (await applier.ApplyAsync(parsed.Documents, dryRun: false, Ct)).Results.Single();
    }

    private RolloutCommands Rollouts => new(Store, _time);

    private async Task<Service> ServiceAsync()
    {
        var (obj, _) = await new ClusterObjects(Store).GetAsync(ObjectKindInfo.Service, "web", Ct);
        return obj.Service;
    }

    private async Task<IReadOnlyList<Replica>> ReplicasAsync() =>
        (await new ClusterObjects(Store).ListAsync(ObjectKindInfo.Replica, "service/web", cancellationToken: Ct)).Items.Select(o => o.Replica).ToList();

    private async Task<IReadOnlyList<Event>> EventsAsync() =>
        (await new ClusterObjects(Store).ListAsync(ObjectKindInfo.Event, "service/web", cancellationToken: Ct)).Items.Select(o => o.Event).OrderBy(e => e.Time.ToDateTimeOffset()).ToList();

    /// <summary>One controller pass, then one step of the simulated agent, then a second of time.</summary>
    private async Task StepAsync()
    {
        await _reconciler!.ReconcileAsync("web", Ct);
        Log.Add(string.Join(" | ", (await ReplicasAsync()).Select(r => $"{r.Meta.Name} r{r.Spec.Revision} {r.Spec.Desired} {r.Status?.Phase}")) + " || " + (await ServiceAsync()).Status);
        foreach (var replica in await ReplicasAsync())
        {
            var spec = replica.Clone();
            spec.Status = null;
            spec.Meta.ResourceVersion = 0;
            var status = replica.Status ?? new ReplicaStatus();
            var now = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
            if (string.IsNullOrEmpty(replica.Spec.Node))
            {
                spec.Spec.Node = "node-1";
                await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Replica(replica.Meta.Name), ProtoJson.Encode(spec))), Ct);
                status.Phase = Phase.Scheduled;
            }
            else if (replica.Spec.Desired == DesiredState.Stop)
            {
                status.Phase = Phase.Succeeded;
            }
            else if (replica.Spec.Desired == DesiredState.Drain)
            {
                status.Phase = Phase.Draining;
            }
            else if (Crashing.Contains(replica.Spec.Revision))
            {
                status.Phase = Phase.Failed;
                status.Reason = "CrashLoopBackOff";
                status.Message = "exited with code 1";
                status.Restarts = status.Phase == Phase.Failed ? status.Restarts + 1 : status.Restarts;
            }
            else if (status.Phase != Phase.Ready)
            {
                status.Phase = Phase.Ready;
                status.ReadyAt = now;
            }

            await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ReplicaStatus(replica.Meta.Name), ProtoJson.Encode(status))), Ct);
        }

        _time.Advance(TimeSpan.FromSeconds(1));
    }

    /// <summary>Steps until <paramref name="done"/> holds for the service, at most <paramref name="steps"/> times, checking every step's replica counts.</summary>
    private async Task<Service> RunUntilAsync(Func<Service, IReadOnlyList<Replica>, bool> done, int steps = 60, int maxActive = 4)
    {
        for (var i = 0; i < steps; i++)
        {
            await StepAsync();
            var service = await ServiceAsync();
            var replicas = await ReplicasAsync();
            var active = replicas.Count(r => r.Spec.Desired == DesiredState.Run);
            Assert.True(active <= maxActive, $"step {i}: {active} active replicas");
            if (done(service, replicas))
            {
                return service;
            }
        }

        var last = await ServiceAsync();
        Assert.Fail($"not done after {steps} steps: {last.Status}\n{string.Join("\n", Log)}");
        return last;
    }

    private static bool Settled(Service s, IReadOnlyList<Replica> replicas, RolloutState state) =>
        s.Status?.Rollout == state && s.Status.ObservedGeneration == s.Meta.Generation && replicas.All(r => r.Spec.Desired == DesiredState.Run);

    [Fact]
    public async Task A_rollout_replaces_every_replica_and_completes()
    {
        await ApplyAsync(Spec("v1"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 3);

        Assert.Equal(2, (await ApplyAsync(Spec("v2"))).Revision);
        var service = await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && s.Revision == 2 && r.All(x => x.Spec.Revision == 2));

        Assert.Equal((2L, 3, 3, 0L), (service.Status.StableRevision, service.Status.UpdatedReplicas, service.Status.AvailableReplicas, service.Status.FailedRevision));
        var reasons = (await EventsAsync()).Select(e => e.Reason).ToList();
        Assert.Contains("RolloutStarted", reasons);
        Assert.Contains("ReplicaDraining", reasons);
        Assert.Equal("RolloutComplete", reasons.Last(r => r.StartsWith("Rollout", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_crash_looping_revision_is_rolled_back_and_the_reason_recorded()
    {
        await ApplyAsync(Spec("v1"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 3);
        Crashing.Add(2);

        await ApplyAsync(Spec("v2-broken"));
        var service = await RunUntilAsync((s, r) => Settled(s, r, RolloutState.RolledBack) && r.All(x => x.Spec.Revision == 1) && r.Count == 3);

        Assert.Equal((1L, 1L, 2L, "CrashLoopBackOff"), (service.Revision, service.Status.StableRevision, service.Status.FailedRevision, service.Status.Reason));
        Assert.Equal(["app", "v1"], service.Spec.Template.Command);
        Assert.Contains("rolled back to revision 1", service.Status.Message, StringComparison.Ordinal);
        var rolledBack = Assert.Single(await EventsAsync(), e => e.Reason == "RolledBack");
        Assert.Equal(EventType.Warning, rolledBack.Type);
        Assert.StartsWith("Rolled back from revision 2 to revision 1: replica web-", rolledBack.Message, StringComparison.Ordinal);

        // Applying the same broken spec again is a new attempt, as a new revision.
        Assert.Equal(3, (await ApplyAsync(Spec("v2-broken"))).Revision);
    }

    [Fact]
    public async Task A_rollout_that_never_gets_ready_fails_at_its_progress_deadline_and_with_on_failure_pause_halts()
    {
        await ApplyAsync(Spec("v1", update: "{ maxSurge: 1, maxUnavailable: 0, progressDeadline: 20s, onFailure: pause }"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 3);
        Crashing.Add(2);

        await ApplyAsync(Spec("v2", update: "{ maxSurge: 1, maxUnavailable: 0, progressDeadline: 20s, onFailure: pause }"));
        var service = await RunUntilAsync((s, _) => s.Status?.Rollout == RolloutState.Failed);
        Assert.Equal(2L, service.Status.FailedRevision);

        // Halted: nothing more happens however long we wait; the old replicas keep serving.
        for (var i = 0; i < 30; i++)
        {
            await StepAsync();
        }

        var replicas = await ReplicasAsync();
        Assert.Equal(3, replicas.Count(r => r.Spec.Revision == 1 && r.Spec.Desired == DesiredState.Run && r.Status.Phase == Phase.Ready));
        Assert.Single(replicas, r => r.Spec.Revision == 2);
        Assert.Single(await EventsAsync(), e => e.Reason == "RolloutFailed");

        // Undo goes back to revision 1; the broken replica is retired.
        var undo = await Rollouts.UndoAsync("web", 0, Ct);
        Assert.Equal((2L, 1L), (undo.PreviousRevision, undo.Revision));
        service = await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.All(x => x.Spec.Revision == 1));
        Assert.Equal(1L, service.Revision);
    }

    [Fact]
    public async Task A_paused_rollout_waits_and_resumes_where_it_stopped()
    {
        await ApplyAsync(Spec("v1"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 3);

        Assert.True((await Rollouts.PauseAsync("web", Ct)).Changed);
        Assert.False((await Rollouts.PauseAsync("web", Ct)).Changed);
        await ApplyAsync(Spec("v2"));
        Assert.True((await ServiceAsync()).Spec.Paused, "apply keeps paused");
        await RunUntilAsync((s, _) => s.Status?.Rollout == RolloutState.Paused);
        for (var i = 0; i < 10; i++)
        {
            await StepAsync();
        }

        Assert.All(await ReplicasAsync(), r => Assert.Equal(1, r.Spec.Revision));

        Assert.True((await Rollouts.ResumeAsync("web", Ct)).Changed);
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.All(x => x.Spec.Revision == 2));
    }

    [Fact]
    public async Task Undo_to_a_named_revision_and_its_errors()
    {
        await ApplyAsync(Spec("v1"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete));
        await ApplyAsync(Spec("v2"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && s.Revision == 2 && r.All(x => x.Spec.Revision == 2));
        await ApplyAsync(Spec("v3"));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && s.Revision == 3 && r.All(x => x.Spec.Revision == 3));

        var missing = await Assert.ThrowsAsync<InvalidObjectRequestException>(() => Rollouts.UndoAsync("web", 7, Ct));
        Assert.Equal("service \"web\" has no revision 7; its history holds revisions 1, 2, 3 ('orc rollout history web')", missing.Message);
        var same = await Assert.ThrowsAsync<InvalidObjectRequestException>(() => Rollouts.UndoAsync("web", 3, Ct));
        Assert.Contains("already at revision 3", same.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => Rollouts.UndoAsync("nope", 0, Ct));
        Assert.Equal(3, (await ServiceAsync()).Revision);

        var undo = await Rollouts.UndoAsync("web", 1, Ct);
        Assert.Equal((3L, 1L), (undo.PreviousRevision, undo.Revision));
        var service = await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.All(x => x.Spec.Revision == 1));
        Assert.Equal(["app", "v1"], service.Spec.Template.Command);

        // No --to-revision: the newest other revision (3), like undoing the undo.
        Assert.Equal(3L, (await Rollouts.UndoAsync("web", 0, Ct)).Revision);
    }

    [Fact]
    public async Task Scaling_down_keeps_the_rollout_settled_and_a_lost_replica_is_replaced()
    {
        await ApplyAsync(Spec("v1", replicas: 4));
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 4, maxActive: 4);

        var lost = (await ReplicasAsync())[0];
        var status = lost.Status.Clone();
        status.Phase = Phase.Lost;
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ReplicaStatus(lost.Meta.Name), ProtoJson.Encode(status))), Ct);
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 4 && r.All(x => x.Meta.Name != lost.Meta.Name), maxActive: 4);

        await new ObjectCommands(Store, _time).ScaleAsync("web", 2, Ct);
        await RunUntilAsync((s, r) => Settled(s, r, RolloutState.Complete) && r.Count == 2, maxActive: 4);
    }
}
