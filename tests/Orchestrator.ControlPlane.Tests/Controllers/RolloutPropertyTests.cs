using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>A seed over the whole int range, printed when a property fails so the case replays.</summary>
public readonly record struct RolloutSeed(int Value);

public static class RolloutSeeds
{
    public static Arbitrary<RolloutSeed> Any() => Arb.From(Gen.Choose(0, int.MaxValue).Select(v => new RolloutSeed(v)));
}

/// <summary>
/// The planner driven pass after pass over a simulated service: its actions are applied as the
/// reconciler would, and replicas become ready (and retiring ones end) in random orders.
/// </summary>
public sealed class RolloutPropertyTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly ServicePlanner _planner = new(new ControllerOptions { DrainTimeout = TimeSpan.FromSeconds(2), StopTimeoutExtra = TimeSpan.FromSeconds(10) });

    [Property(MaxTest = 300, Arbitrary = [typeof(RolloutSeeds)])]
    public void A_rollout_stays_within_max_surge_and_max_unavailable_and_completes(RolloutSeed seed)
    {
        var random = new Random(seed.Value);
        var desired = random.Next(1, 9);
        var percent = random.Next(3) == 0;
        var surge = percent ? random.Next(0, 101) : random.Next(0, 4);
        var unavailable = percent ? random.Next(0, 101) : random.Next(0, 4);
        if (surge == 0 && unavailable == 0)
        {
            surge = percent ? 25 : 1;
        }

        var update = new UpdateStrategy
        {
            MaxSurge = new IntOrPercent { Value = surge, Percent = percent },
            MaxUnavailable = new IntOrPercent { Value = unavailable, Percent = percent },
            ProgressDeadline = Duration.FromTimeSpan(TimeSpan.FromHours(10)),
        };
        var (maxSurge, maxUnavailable) = ApplyPlanner.RollingLimits(update, desired);
        var sim = new Simulation(random, Start);
        for (var i = 0; i < desired; i++)
        {
            sim.Add(revision: 1, Phase.Ready, node: $"node-{random.Next(3)}");
        }

        var service = Service(desired, revision: 2, update);
        service.Status = new ServiceStatus { ObservedGeneration = 1, CurrentRevision = 1, StableRevision = 1, Rollout = RolloutState.Complete, Replicas = desired, UpdatedReplicas = desired, AvailableReplicas = desired, ReadyReplicas = desired, ProgressAt = Timestamp.FromDateTimeOffset(Start) };
        var what = $"seed {seed.Value}: replicas {desired}, maxSurge {surge}{(percent ? "%" : "")} ({maxSurge}), maxUnavailable {unavailable}{(percent ? "%" : "")} ({maxUnavailable})";

        for (var step = 0; step < 400; step++)
        {
            var plan = _planner.Plan(service, sim.Replicas, null, null, sim.Now);
            Assert.Empty(plan.Actions.OfType<RollBack>());
            sim.Apply(plan, step);
            service.Status = plan.Status;

            var active = sim.Replicas.Where(r => r.Spec.Desired == DesiredState.Run).ToList();
            var ready = active.Count(r => r.Status.Phase == Phase.Ready);
            Assert.True(active.Count <= desired + maxSurge, $"{what}: step {step}: {active.Count} active > {desired} + {maxSurge}\n{sim.Describe()}");
            Assert.True(ready >= desired - maxUnavailable, $"{what}: step {step}: {ready} ready < {desired} - {maxUnavailable}\n{sim.Describe()}");
            if (plan.Status!.Rollout == RolloutState.Complete && sim.Replicas.All(r => r.Spec.Desired == DesiredState.Run))
            {
                Assert.Equal(desired, active.Count);
                Assert.All(active, r => Assert.Equal(2, r.Spec.Revision));
                Assert.Equal(2, plan.Status.StableRevision);
                return;
            }

            sim.Progress(step > 200);
        }

        Assert.Fail($"{what}: no complete rollout after 400 passes\n{sim.Describe()}");
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(RolloutSeeds)])]
    public void Scaling_converges_to_the_desired_count(RolloutSeed seed)
    {
        var random = new Random(seed.Value);
        var sim = new Simulation(random, Start);
        var phases = new[] { Phase.Pending, Phase.Scheduled, Phase.Starting, Phase.Running, Phase.Ready, Phase.Lost };
        for (var i = random.Next(0, 12); i > 0; i--)
        {
            var phase = phases[random.Next(phases.Length)];
            sim.Add(revision: 1, phase, node: phase == Phase.Pending ? "" : $"node-{random.Next(3)}");
        }

        var desired = random.Next(0, 10);
        var service = Service(desired, revision: 1, new UpdateStrategy { ProgressDeadline = Duration.FromTimeSpan(TimeSpan.FromHours(10)) });
        for (var step = 0; step < 200; step++)
        {
            var plan = _planner.Plan(service, sim.Replicas, null, null, sim.Now);
            sim.Apply(plan, step);
            service.Status = plan.Status;
            var active = sim.Replicas.Where(r => r.Spec.Desired == DesiredState.Run).ToList();
            if (plan.Status!.Rollout == RolloutState.Complete && sim.Replicas.All(r => r.Spec.Desired == DesiredState.Run))
            {
                Assert.Equal(desired, active.Count);
                Assert.All(active, r => Assert.Equal(Phase.Ready, r.Status.Phase));
                return;
            }

            sim.Progress(step > 100);
        }

        Assert.Fail($"seed {seed.Value}: {desired} replicas never reached\n{sim.Describe()}");
    }

    private static Service Service(int replicas, long revision, UpdateStrategy update) => new()
    {
        Meta = new ObjectMeta { Name = "web", Generation = 1 },
        Spec = new ServiceSpec
        {
            Name = "web",
            Replicas = replicas,
            Update = update,
            Template = new ReplicaTemplate { Command = { "app" }, Ports = { new PortSpec { Name = "http", Port = 80 } } },
        },
        Revision = revision,
    };

    /// <summary>Replicas as the store would hold them, changed by the planner's actions and by simulated agents.</summary>
    private sealed class Simulation(Random random, DateTimeOffset start)
    {
        private int _next;

        public List<Replica> Replicas { get; } = [];

        public DateTimeOffset Now { get; private set; } = start;

        public void Add(long revision, Phase phase, string node)
        {
            var at = Timestamp.FromDateTimeOffset(Now.AddSeconds(-1000 + _next));
            Replicas.Add(new Replica
            {
                Meta = new ObjectMeta { Name = $"web-{_next++:D5}", CreatedAt = at, UpdatedAt = at },
                Spec = new ReplicaSpec { Owner = new OwnerRef { Kind = "service", Name = "web" }, Revision = revision, Node = node, Desired = DesiredState.Run, Template = new ReplicaTemplate { Ports = { new PortSpec { Name = "http" } } } },
                Status = new ReplicaStatus { Phase = phase, ReadyAt = phase == Phase.Ready ? at : null },
            });
        }

        public void Apply(ServicePlan plan, int step)
        {
            foreach (var action in plan.Actions)
            {
                switch (action)
                {
                    case CreateReplica create:
                        Add(create.Revision, Phase.Pending, "");
                        break;
                    case StopReplica stop:
                        Retire(stop.Id, DesiredState.Stop);
                        break;
                    case DrainReplica drain:
                        Retire(drain.Id, DesiredState.Drain);
                        break;
                    case RemoveReplica remove:
                        Replicas.RemoveAll(r => r.Meta.Name == remove.Id);
                        break;
                    case RecordEvent:
                        break;
                    default:
                        throw new InvalidOperationException($"step {step}: unexpected {action}");
                }
            }
        }

        private void Retire(string id, DesiredState desired)
        {
            var replica = Replicas.Single(r => r.Meta.Name == id);
            Assert.True(replica.Spec.Desired == DesiredState.Run || (replica.Spec.Desired == DesiredState.Drain && desired == DesiredState.Stop), $"{id} retired twice");
            replica.Spec.Desired = desired;
            replica.Meta.UpdatedAt = Timestamp.FromDateTimeOffset(Now);
        }

        /// <summary>Time passes; some replicas move on (placed, started, ready; stopped ones end), in a random order, all of them when <paramref name="all"/>.</summary>
        public void Progress(bool all)
        {
            Now = Now.AddSeconds(1);
            foreach (var replica in Replicas.OrderBy(_ => random.Next()))
            {
                if (!all && random.Next(3) != 0)
                {
                    continue;
                }

                var s = replica.Status;
                if (replica.Spec.Desired == DesiredState.Stop)
                {
                    s.Phase = Phase.Succeeded;
                }
                else if (replica.Spec.Desired == DesiredState.Drain)
                {
                    Now = Now.AddSeconds(random.Next(0, 2));
                }
                else if (s.Phase == Phase.Pending)
                {
                    replica.Spec.Node = $"node-{random.Next(3)}";
                    s.Phase = Phase.Scheduled;
                }
                else if (s.Phase is Phase.Scheduled or Phase.Starting or Phase.Running)
                {
                    s.Phase = s.Phase == Phase.Running || random.Next(2) == 0 ? Phase.Ready : Phase.Running;
                    s.ReadyAt = s.Phase == Phase.Ready ? Timestamp.FromDateTimeOffset(Now) : null;
                }
            }
        }

        public string Describe() => string.Join('\n', Replicas.Select(r => $"  {r.Meta.Name} rev {r.Spec.Revision} {r.Spec.Desired} {r.Status.Phase} {r.Spec.Node}"));
    }
}
