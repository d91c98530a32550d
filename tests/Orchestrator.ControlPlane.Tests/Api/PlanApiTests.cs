using Grpc.Core;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Api;

/// <summary>
/// <c>Cluster.Plan</c> against an in-process control plane (controllers off) on SQLite: what an
/// apply would do to each object and its replicas, and where new replicas would go.
/// </summary>
public sealed class PlanApiTests : IAsyncLifetime
{
    private static readonly DateTimeOffset DecidedAt = new(2026, 1, 15, 11, 55, 0, TimeSpan.Zero);
    private ControlPlaneFixture _cp = null!;
    private ClusterSeed _seed = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cp = await ControlPlaneFixture.StartAsync(cancellationToken: Ct);
        _seed = new ClusterSeed(_cp.Store, DecidedAt);
        await _seed.AddNodeAsync("node-1", cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", firstPort: 21000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-3", firstPort: 22000, cancellationToken: Ct);
    }

    public async ValueTask DisposeAsync() => await _cp.DisposeAsync();

    private static string Web(string image = "nginx:1.26", int replicas = 3, string memory = "128Mi", string update = "") => $$"""
        kind: Service
        name: web
        replicas: {{replicas}}
        image: {{image}}
        resources: { cpu: 250m, memory: {{memory}} }
        ports:
          - { name: http, port: 80 }
        {{update}}
        """;

    private async Task<PlanResponse> PlanAsync(params string[] contents)
    {
        var request = new PlanRequest();
        request.Files.AddRange(contents.Select((c, i) => new SpecFile { SourceName = $"app{i + 1}.yaml", Content = c }));
        return await _cp.Client.PlanAsync(request, cancellationToken: Ct);
    }

    /// <summary>Applies <paramref name="spec"/> and places its replicas as the controllers would have.</summary>
    private async Task<IReadOnlyList<string>> RunAsync(string spec, int replicas)
    {
        await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "app.yaml", Content = spec }, cancellationToken: Ct);
        var service = (await _cp.Client.GetAsync(new GetRequest { Kind = ObjectKind.Service, Name = "web" }, cancellationToken: Ct)).Object.Service;
        var ids = new List<string>();
        for (var i = 1; i <= replicas; i++)
        {
            var id = $"web-r{service.Revision}ep{i}";
            Assert.NotNull(await _seed.PlaceAsync(id, "service/web", service.Spec.Template, service.Revision, Ct));
            ids.Add(id);
        }

        return ids;
    }

    [Fact]
    public async Task A_new_service_on_three_nodes_is_created_with_its_replicas_spread_one_per_node()
    {
        var plan = await PlanAsync(Web());

        var web = Assert.Single(plan.Objects);
        Assert.Equal((ObjectKind.Service, "web", ApplyOutcome.Created, 1L), (web.Result.Kind, web.Result.Name, web.Result.Outcome, web.Result.Revision));
        Assert.Equal(3, web.Replicas);
        Assert.Empty(web.Kept);
        Assert.Empty(web.Replaced);
        Assert.Empty(web.Removed);
        Assert.Equal([1, 2, 3], web.Created.Select(r => r.Ordinal));
        Assert.Equal(["node-1", "node-2", "node-3"], web.Created.Select(r => r.Node).Order());
        Assert.All(web.Created, r => Assert.StartsWith($"Scheduled on {r.Node}: 3 of 3 nodes fit", r.Placement.Message, StringComparison.Ordinal));
        Assert.Equal((0, 3), (plan.Unschedulable, plan.Nodes));
        Assert.Equal(ApplyPlanner.PlacedInOrder, plan.Assumption);
    }

    [Fact]
    public async Task Plan_writes_nothing_to_the_store()
    {
        await RunAsync(Web(), 3);
        var before = await _cp.Store.GetRevisionAsync(Ct);

        await PlanAsync(Web(image: "nginx:1.27", replicas: 5));
        await PlanAsync(Web().Replace("name: web", "name: api", StringComparison.Ordinal));

        Assert.Equal(before, await _cp.Store.GetRevisionAsync(Ct));
        var service = (await _cp.Client.GetAsync(new GetRequest { Kind = ObjectKind.Service, Name = "web" }, cancellationToken: Ct)).Object.Service;
        Assert.Equal(("nginx:1.26", 3, 1L), (service.Spec.Template.Image, service.Spec.Replicas, service.Revision));
    }

    [Fact]
    public async Task A_scale_up_keeps_the_replicas_and_places_the_new_ones_where_the_service_has_fewest()
    {
        var existing = await RunAsync(Web(replicas: 2), 2);

        var plan = await PlanAsync(Web(replicas: 3));

        var web = Assert.Single(plan.Objects);
        Assert.Equal((ApplyOutcome.Configured, 1L), (web.Result.Outcome, web.Result.Revision));
        Assert.Equal(["replicas 2 -> 3"], web.Result.Changes);
        Assert.Equal(existing, web.Kept.Select(r => r.Id));
        Assert.Equal(["node-1", "node-2"], web.Kept.Select(r => r.Node));
        Assert.Empty(web.Replaced);
        Assert.Empty(web.Removed);
        var created = Assert.Single(web.Created);
        Assert.Equal((1, 1L, "node-3"), (created.Ordinal, created.Revision, created.Node));
        Assert.Equal(0, plan.Unschedulable);
    }

    [Fact]
    public async Task A_scale_down_keeps_the_first_replicas_and_removes_the_rest_in_the_service_controllers_order()
    {
        var existing = await RunAsync(Web(replicas: 3), 3);

        var plan = await PlanAsync(Web(replicas: 1));

        var web = Assert.Single(plan.Objects);
        Assert.Equal($"{ApplyPlanner.PlacedInOrder} {ApplyPlanner.RoomGivenBack}", plan.Assumption);
        Assert.Equal(existing.Take(1), web.Kept.Select(r => r.Id));
        Assert.Equal(existing.Skip(1).Order(), web.Removed.Select(r => r.Id).Order());
        Assert.Empty(web.Created);
        Assert.Equal((0, 0), (web.MaxSurge, web.MaxUnavailable));
    }

    [Fact]
    public async Task A_template_change_lists_the_replicas_the_rolling_update_replaces_and_places_the_new_revision()
    {
        var existing = await RunAsync(Web(), 3);

        var plan = await PlanAsync(Web(image: "nginx:1.27", update: "update: { maxSurge: 25%, maxUnavailable: 1 }"));

        var web = Assert.Single(plan.Objects);
        Assert.Equal((ApplyOutcome.Configured, 2L), (web.Result.Outcome, web.Result.Revision));
        Assert.Contains("template: image nginx:1.26 -> nginx:1.27", web.Result.Changes);
        Assert.Empty(web.Kept);
        Assert.Equal(existing, web.Replaced.Select(r => r.Id));
        Assert.All(web.Replaced, r => Assert.Equal((1L, Phase.Running), (r.Revision, r.Phase)));
        Assert.Equal(["node-1", "node-2", "node-3"], web.Replaced.Select(r => r.Node).Order());
        Assert.Equal((1, 1), (web.MaxSurge, web.MaxUnavailable));
        Assert.Equal(new IntOrPercent { Value = 25, Percent = true }, web.Update.MaxSurge);

        // The replaced replicas gave their room back: the new ones spread one per node again.
        Assert.Equal(3, web.Created.Count);
        Assert.All(web.Created, r => Assert.Equal(2L, r.Revision));
        Assert.Equal(["node-1", "node-2", "node-3"], web.Created.Select(r => r.Node).Order());
        Assert.Equal($"{ApplyPlanner.PlacedInOrder} {ApplyPlanner.RoomGivenBack} {ApplyPlanner.SurgeNeedsRoom}", plan.Assumption);
    }

    [Theory]
    [InlineData(1, false, 0, false, 3, 1, 0)]
    [InlineData(25, true, 0, false, 3, 1, 0)]
    [InlineData(25, true, 25, true, 4, 1, 1)]
    [InlineData(50, true, 50, true, 3, 2, 1)]
    [InlineData(0, false, 25, true, 3, 0, 1)]
    [InlineData(0, false, 2, false, 3, 0, 2)]
    public void Rolling_limits_round_surge_up_and_unavailable_down_and_are_never_both_zero(int surge, bool surgePercent, int unavailable, bool unavailablePercent, int replicas, int expectedSurge, int expectedUnavailable)
    {
        var update = new UpdateStrategy
        {
            MaxSurge = new IntOrPercent { Value = surge, Percent = surgePercent },
            MaxUnavailable = new IntOrPercent { Value = unavailable, Percent = unavailablePercent },
        };

        Assert.Equal((expectedSurge, expectedUnavailable), ApplyPlanner.RollingLimits(update, replicas));
    }

    [Fact]
    public async Task Replicas_that_fit_nowhere_are_counted_with_the_reason()
    {
        var plan = await PlanAsync(Web(memory: "6Gi"));

        var web = Assert.Single(plan.Objects);
        Assert.Equal(["node-1", "node-2", "node-3"], web.Created.Select(r => r.Node).Order());
        Assert.Equal(0, plan.Unschedulable);

        var tooBig = await PlanAsync(Web(replicas: 4, memory: "6Gi"));
        web = Assert.Single(tooBig.Objects);
        Assert.Equal(1, tooBig.Unschedulable);
        var pending = web.Created[3];
        Assert.Equal("", pending.Node);
        Assert.Equal("0/3 nodes fit: 3 insufficient memory", pending.Placement.Message);
    }

    [Fact]
    public async Task A_new_job_places_its_first_parallelism_replicas()
    {
        var plan = await PlanAsync("""
            kind: Job
            name: report
            driver: process
            command: ["sh", "-c", "echo done"]
            resources: { cpu: 3 }
            completions: 5
            parallelism: 4
            """);

        var job = Assert.Single(plan.Objects);
        Assert.Equal((ObjectKind.Job, ApplyOutcome.Created, 4), (job.Result.Kind, job.Result.Outcome, job.Replicas));
        Assert.Equal(["node-1", "node-2", "node-3", ""], job.Created.Select(r => r.Node).Take(3).Order().Append(job.Created[3].Node));
        Assert.Equal(1, plan.Unschedulable);
        Assert.Equal("0/3 nodes fit: 3 insufficient cpu", job.Created[3].Placement.Message);
    }

    [Fact]
    public async Task A_change_to_a_job_template_is_refused_by_plan_as_by_apply()
    {
        const string Job = """
            kind: Job
            name: report
            driver: process
            command: ["sh", "-c", "echo done"]
            completions: 2
            """;
        await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "app1.yaml", Content = Job }, cancellationToken: Ct);
        var changed = Job.Replace("echo done", "echo again", StringComparison.Ordinal);

        var applyError = await Assert.ThrowsAsync<RpcException>(async () =>
            await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "app1.yaml", Content = changed }, cancellationToken: Ct));
        var planError = await Assert.ThrowsAsync<RpcException>(() => PlanAsync(changed));

        Assert.Equal((applyError.StatusCode, applyError.Status.Detail), (planError.StatusCode, planError.Status.Detail));
        Assert.Contains("job \"report\" cannot change its template", planError.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_files_are_planned_together_on_one_copy_of_the_cluster()
    {
        var api = Web(memory: "6Gi").Replace("name: web", "name: api", StringComparison.Ordinal);
        var plan = await PlanAsync(Web(memory: "6Gi"), api);

        Assert.Equal(["web", "api"], plan.Objects.Select(o => o.Result.Name));
        Assert.All(plan.Objects[0].Created, r => Assert.NotEqual("", r.Node));
        Assert.All(plan.Objects[1].Created, r => Assert.Equal("0/3 nodes fit: 3 insufficient memory", r.Placement.Message));
        Assert.Equal(3, plan.Unschedulable);
    }

    [Fact]
    public async Task An_invalid_spec_gets_the_same_errors_as_apply_and_nothing_is_planned()
    {
        var bad = Web(memory: "128MB");
        var applyError = await Assert.ThrowsAsync<RpcException>(async () =>
            await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "app1.yaml", Content = bad, DryRun = true }, cancellationToken: Ct));

        var planError = await Assert.ThrowsAsync<RpcException>(() => PlanAsync(bad));

        Assert.Equal(StatusCode.InvalidArgument, planError.StatusCode);
        Assert.Equal(applyError.Status.Detail, planError.Status.Detail);
        Assert.Contains("app1.yaml:5: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?", planError.Status.Detail, StringComparison.Ordinal);
        Assert.NotNull(planError.Trailers.GetValueBytes("validation-errors-bin"));

        var duplicate = await Assert.ThrowsAsync<RpcException>(() => PlanAsync(Web(), Web()));
        Assert.Equal(StatusCode.InvalidArgument, duplicate.StatusCode);
        Assert.Equal("app2.yaml:1: service \"web\" is also in app1.yaml:1; keep one document per object", duplicate.Status.Detail);

        var twice = Web() + "\n---\n" + Web();
        var applyTwice = await Assert.ThrowsAsync<RpcException>(async () =>
            await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "app1.yaml", Content = twice, DryRun = true }, cancellationToken: Ct));
        var planTwice = await Assert.ThrowsAsync<RpcException>(() => PlanAsync(twice));
        Assert.Equal((StatusCode.InvalidArgument, applyTwice.Status.Detail), (planTwice.StatusCode, planTwice.Status.Detail));
    }

    [Fact]
    public async Task A_published_port_another_service_publishes_is_refused_by_plan_as_by_apply()
    {
        const string Api = "kind: Service\nname: api\nimage: api:1\nports:\n  - { name: http, port: 80, published: 8080 }\n";
        await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "api.yaml", Content = Api }, cancellationToken: Ct);
        var web = Web().Replace("port: 80 }", "port: 80, published: 8080 }", StringComparison.Ordinal);

        var applyError = await Assert.ThrowsAsync<RpcException>(async () =>
            await _cp.Client.ApplyAsync(new ApplyRequest { SourceName = "app1.yaml", Content = web, DryRun = true }, cancellationToken: Ct));
        var planError = await Assert.ThrowsAsync<RpcException>(() => PlanAsync(web));

        Assert.Equal(StatusCode.InvalidArgument, planError.StatusCode);
        Assert.Equal(applyError.Status.Detail, planError.Status.Detail);
        Assert.StartsWith("app1.yaml:1: ports[0].published: 8080 is already published by the service \"api\"", planError.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("such as 8081", planError.Status.Detail, StringComparison.Ordinal);
    }
}
