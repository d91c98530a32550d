using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// <c>orc plan</c> against a control plane hosted in the test process (controllers off) with three
/// nodes; replicas of services that "already run" are written as the placement loop would.
/// </summary>
public sealed class PlanCommandTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-plan");
    private ControlPlaneFixture _cp = null!;
    private ClusterSeed _seed = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _cp = await ControlPlaneFixture.StartAsync(cancellationToken: Ct);
        _seed = new ClusterSeed(_cp.Store, Samples.Now - TimeSpan.FromMinutes(5));
        await _seed.AddNodeAsync("node-1", cancellationToken: Ct);
        await _seed.AddNodeAsync("node-2", firstPort: 21000, cancellationToken: Ct);
        await _seed.AddNodeAsync("node-3", firstPort: 22000, cancellationToken: Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _cp.DisposeAsync();
        _dir.Dispose();
    }

    private static string Web(string image = "nginx:1.26", int replicas = 3, string memory = "256Mi") => $$"""
        kind: Service
        name: web
        replicas: {{replicas}}
        image: {{image}}
        resources: { cpu: 500m, memory: {{memory}} }
        ports:
          - { name: http, port: 80 }
        """;

    private string File(string name, string content)
    {
        var path = _dir.File(name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    private Task<Orc.Result> Run(params string[] args) =>
        Orc.RunAsync([.. args, "--server", _cp.GrpcUrl.ToString().TrimEnd('/')], time: new FakeTimeProvider(Samples.Now));

    /// <summary>Applies <paramref name="spec"/> and places its replicas as the controllers would have.</summary>
    private async Task RunningAsync(string spec, params string[] ids)
    {
        var applied = await Run("apply", "-f", File("running.yaml", spec));
        Assert.True(applied.ExitCode == 0, applied.ToString());
        var service = (await _cp.Client.GetAsync(new GetRequest { Kind = ObjectKind.Service, Name = "web" }, cancellationToken: Ct)).Object.Service;
        foreach (var id in ids)
        {
            Assert.NotNull(await _seed.PlaceAsync(id, "service/web", service.Spec.Template, service.Revision, Ct));
        }
    }

    /// <summary>The output with the temp dir's path written as <c>DIR</c>, for golden files.</summary>
    private string Stable(string text) => text.Replace(_dir.Path, "DIR", StringComparison.Ordinal);

    [Fact]
    public async Task A_new_service_on_three_nodes_places_one_replica_on_each()
    {
        var result = await Run("plan", "-f", File("web.yaml", Web()));

        Assert.True(result.ExitCode == 0, result.ToString());
        Golden.Assert("plan-new-service.txt", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task A_scale_up_keeps_the_running_replicas_and_places_the_new_ones()
    {
        await RunningAsync(Web(replicas: 2), "web-7f3k2", "web-q8d1z");

        var result = await Run("plan", "-f", File("web.yaml", Web(replicas: 4)));

        Assert.True(result.ExitCode == 0, result.ToString());
        Golden.Assert("plan-scale-up.txt", result.Stdout);
    }

    [Fact]
    public async Task A_template_change_lists_the_replicas_a_rolling_update_replaces_and_where_the_new_ones_go()
    {
        await RunningAsync(Web(), "web-7f3k2", "web-q8d1z", "web-m2x9c");

        var result = await Run("plan", "-f", File("web.yaml", Web(image: "nginx:1.27")));

        Assert.True(result.ExitCode == 0, result.ToString());
        Golden.Assert("plan-rolling-update.txt", result.Stdout);
    }

    [Fact]
    public async Task A_spec_that_does_not_fit_exits_3_and_says_why_each_replica_would_stay_pending()
    {
        var result = await Run("plan", "-f", File("web.yaml", Web(replicas: 4, memory: "6Gi")));

        Assert.Equal(ExitCodes.WouldStayPending, result.ExitCode);
        Assert.Equal(3, ExitCodes.WouldStayPending);
        Golden.Assert("plan-does-not-fit.txt", result.Stdout);
        Assert.Equal("", result.Stderr);

        var json = await Run("plan", "-f", File("web.yaml", Web(replicas: 4, memory: "6Gi")), "-o", "json");
        Assert.Equal(ExitCodes.WouldStayPending, json.ExitCode);
        using var document = JsonDocument.Parse(json.Stdout);
        Assert.Equal(1, document.RootElement.GetProperty("unschedulable").GetInt32());
        var created = document.RootElement.GetProperty("objects")[0].GetProperty("created");
        Assert.Equal("0/3 nodes fit: 3 insufficient memory", created[3].GetProperty("placement").GetProperty("message").GetString());
    }

    [Fact]
    public async Task An_invalid_spec_prints_the_same_problems_as_apply_and_exits_1()
    {
        var bad = File("bad.yaml", Web(memory: "128MB"));
        var apply = await Run("apply", "-f", bad, "--dry-run");

        var plan = await Run("plan", "-f", bad);

        Assert.Equal((ExitCodes.Failure, ""), (plan.ExitCode, plan.Stdout));
        Assert.Equal(apply.StderrLines[..^1], plan.StderrLines[..^1]);
        Assert.Equal("DIR/bad.yaml:5: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?", Stable(plan.StderrLines[0]));
        Assert.Equal("error: DIR/bad.yaml has 1 problem; nothing was planned", Stable(plan.StderrLines[^1]));
    }

    [Fact]
    public async Task Plan_of_a_directory_plans_every_file_together_and_writes_nothing()
    {
        await RunningAsync(Web(), "web-7f3k2", "web-q8d1z", "web-m2x9c");
        var specs = Path.Combine(_dir.Path, "specs");
        Directory.CreateDirectory(specs);
        System.IO.File.WriteAllText(Path.Combine(specs, "a-web.yaml"), Web(image: "nginx:1.27", replicas: 5));
        System.IO.File.WriteAllText(Path.Combine(specs, "b-report.yaml"), """
            kind: Job
            name: report
            driver: process
            command: ["sh", "-c", "echo done"]
            completions: 5
            parallelism: 2
            """);
        var before = await _cp.Store.GetRevisionAsync(Ct);

        var result = await Run("plan", "-f", specs);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(before, await _cp.Store.GetRevisionAsync(Ct));
        Golden.Assert("plan-directory.txt", result.Stdout);
        var web = (await _cp.Client.GetAsync(new GetRequest { Kind = ObjectKind.Service, Name = "web" }, cancellationToken: Ct)).Object.Service;
        Assert.Equal(("nginx:1.26", 3), (web.Spec.Template.Image, web.Spec.Replicas));
    }
}
