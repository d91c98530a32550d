using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.V1;
using static Orchestrator.ControlPlane.Tests.Scheduling.Cluster;

namespace Orchestrator.ControlPlane.Tests.Scheduling.Filters;

public sealed class ResourceFitFilterTests
{
    private readonly ResourceFitFilter _filter = new();

    private (string? Rule, string Detail) Check(ClusterSnapshot snapshot, PlacementRequest request, string node = "node-1")
    {
        var context = Context(request, snapshot);
        var scheduling = snapshot.NodeOf(node);
        return (_filter.Filter(context, scheduling), _filter.Describe(context, scheduling));
    }

    [Fact]
    public void Is_enabled_by_the_name_resources()
    {
        Assert.Equal("resources", _filter.Name);
    }

    [Fact]
    public void A_replica_that_fits_passes_and_the_detail_gives_both_resources()
    {
        var snapshot = Snapshot([Node("node-1", cpu: "4", memory: "8Gi")], Bound("db-1", "node-1", cpu: "1", memory: "1Gi"));

        Assert.Equal(
            (null, "cpu 1 of 4 used, needs 250m; memory 1Gi of 8Gi used, needs 128Mi"),
            Check(snapshot, Request(cpu: "250m", memory: "128Mi")));
    }

    [Fact]
    public void A_replica_that_takes_exactly_what_is_left_fits()
    {
        var snapshot = Snapshot([Node("node-1", cpu: "1", memory: "1Gi")], Bound("db-1", "node-1", cpu: "750m", memory: "768Mi"));

        Assert.Null(Check(snapshot, Request(cpu: "250m", memory: "256Mi")).Rule);
    }

    [Fact]
    public void One_millicore_too_many_is_insufficient_cpu()
    {
        var snapshot = Snapshot([Node("node-1", cpu: "4")], Bound("db-1", "node-1", cpu: "3750m"));

        Assert.Equal(("insufficient cpu", "cpu 3750m of 4 used, needs 251m"), Check(snapshot, Request(cpu: "251m")));
    }

    [Fact]
    public void Too_little_memory_left_is_insufficient_memory_with_the_numbers_rounded_for_people()
    {
        // 1.8Gi is not a whole number of any unit, so it reads rounded.
        var snapshot = Snapshot([Node("node-1", memory: "2Gi")], Bound("db-1", "node-1", memory: "1932735283"));

        Assert.Equal(("insufficient memory", "memory 1.8Gi of 2Gi used, needs 512Mi"), Check(snapshot, Request(memory: "512Mi")));
    }

    [Fact]
    public void Cpu_is_checked_before_memory()
    {
        var snapshot = Snapshot(Node("node-1", cpu: "1", memory: "1Gi"));

        Assert.Equal(("insufficient cpu", "cpu 0 of 1 used, needs 2"), Check(snapshot, Request(cpu: "2", memory: "2Gi")));
    }

    [Fact]
    public void A_node_without_allocatable_offers_its_capacity()
    {
        var snapshot = Snapshot(Node("node-1", cpu: "", memory: "", capacityCpu: "2", capacityMemory: "4Gi"));

        Assert.Equal((2000, 4L << 30), (snapshot.NodeOf("node-1").AllocatableCpu, snapshot.NodeOf("node-1").AllocatableMemory));
        Assert.Null(Check(snapshot, Request(cpu: "2", memory: "4Gi")).Rule);
        Assert.Equal("insufficient memory", Check(snapshot, Request(cpu: "1", memory: "5Gi")).Rule);
    }

    [Fact]
    public void Allocatable_wins_over_capacity()
    {
        var snapshot = Snapshot(Node("node-1", cpu: "1", memory: "1Gi", capacityCpu: "8", capacityMemory: "16Gi"));

        Assert.Equal(("insufficient cpu", "cpu 0 of 1 used, needs 2"), Check(snapshot, Request(cpu: "2")));
    }

    [Fact]
    public void A_node_that_reported_neither_allocatable_nor_capacity_takes_only_replicas_that_request_nothing()
    {
        var snapshot = Snapshot(Node("node-1", cpu: "", memory: ""));

        Assert.Equal(("insufficient cpu", "cpu 0 of 0 used, needs 250m"), Check(snapshot, Request(cpu: "250m")));
        Assert.Equal(("insufficient memory", "memory 0 of 0 used, needs 1Mi"), Check(snapshot, Request(cpu: "0", memory: "1Mi")));
        Assert.Null(Check(snapshot, Request(cpu: "0", memory: "0")).Rule);
    }

    [Theory]
    [InlineData(Phase.Succeeded, false)]
    [InlineData(Phase.Lost, false)]
    [InlineData(Phase.Failed, false)]
    [InlineData(Phase.Failed, true)]
    [InlineData(Phase.Pending, false)]
    [InlineData(Phase.Scheduled, false)]
    [InlineData(Phase.Starting, false)]
    [InlineData(Phase.Running, false)]
    [InlineData(Phase.Ready, false)]
    [InlineData(Phase.Draining, false)]
    public void A_replica_holds_its_resources_until_it_ended_and_no_retry_is_planned(Phase phase, bool retrying)
    {
        var ended = phase is Phase.Succeeded or Phase.Lost || (phase == Phase.Failed && !retrying);
        var snapshot = Snapshot([Node("node-1", cpu: "1", memory: "1Gi")], Bound("old-1", "node-1", cpu: "1", memory: "1Gi", phase: phase, retrying: retrying));

        var (rule, _) = Check(snapshot, Request(cpu: "500m", memory: "512Mi"));

        Assert.Equal(ended ? null : "insufficient cpu", rule);
        Assert.Equal(ended ? 0 : 1000, snapshot.NodeOf("node-1").CpuUsed);
        Assert.Equal(ended ? 0 : 1L << 30, snapshot.NodeOf("node-1").MemoryUsed);
    }

    [Fact]
    public void A_replica_that_ends_gives_its_resources_back_when_its_status_changes()
    {
        var snapshot = Snapshot([Node("node-1", cpu: "1", memory: "1Gi")], Bound("job-1", "node-1", owner: "job/report", cpu: "1", memory: "1Gi"));
        var request = Request(cpu: "1", memory: "1Gi");
        Assert.Equal("insufficient cpu", Check(snapshot, request).Rule);

        var done = Bound("job-1", "node-1", owner: "job/report", cpu: "1", memory: "1Gi", phase: Phase.Succeeded);
        snapshot.SetReplica("job-1", done.Spec, done.Status);

        Assert.Null(Check(snapshot, request).Rule);
    }
}
