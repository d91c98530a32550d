using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary><c>orc</c> against a real control plane hosted in the test process, with a real SQLite store.</summary>
public sealed class EndToEndTests : IAsyncLifetime
{
    private const string Web = """
        kind: Service
        name: web
        replicas: 3
        driver: docker
        image: nginx:1.27
        resources: { cpu: 250m, memory: 128Mi }
        ports:
          - { name: http, port: 80, published: 8080, protocol: http }
        """;

    private const string Report = """
        kind: Job
        name: report
        driver: process
        command: ["sh", "-c", "echo done"]
        completions: 5
        parallelism: 2
        """;

    private readonly TempDirectory _dir = new("orc-cli-e2e");
    private ControlPlaneFixture _cp = null!;

    public async ValueTask InitializeAsync() => _cp = await ControlPlaneFixture.StartAsync(cancellationToken: TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _cp.DisposeAsync();
        _dir.Dispose();
    }

    private string Server => _cp.GrpcUrl.ToString().TrimEnd('/');

    private Task<Orc.Result> Run(params string[] args) => Orc.RunAsync([.. args, "--server", Server]);

    private Task<Orc.Result> RunWithStdin(string stdin, params string[] args) => Orc.RunAsync([.. args, "--server", Server], stdin: stdin);

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private string Write(string name, string content)
    {
        var path = _dir.File(name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public async Task Apply_says_created_then_unchanged_then_configured_with_the_new_revision()
    {
        var path = Write("web.yaml", Web);

        var created = await Run("apply", "-f", path);
        var unchanged = await Run("apply", "-f", path);
        Write("web.yaml", Web.Replace("nginx:1.27", "nginx:1.28", StringComparison.Ordinal));
        var configured = await Run("apply", "-f", path);

        Assert.Equal(0, created.ExitCode);
        Assert.Equal(["service/web created"], created.StdoutLines);
        Assert.Equal(0, unchanged.ExitCode);
        Assert.Equal(["service/web unchanged"], unchanged.StdoutLines);
        Assert.Equal(0, configured.ExitCode);
        Assert.Equal(["service/web configured (revision 2)"], configured.StdoutLines);
    }

    [Fact]
    public async Task Apply_of_a_directory_applies_every_spec_in_it()
    {
        Write("a-web.yaml", Web);
        Write("b-report.yml", Report);

        var result = await Run("apply", "-f", _dir.Path);
        var jobs = await Run("get", "jobs");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["service/web created", "job/report created"], result.StdoutLines);
        Assert.StartsWith("report   0/5", jobs.StdoutLines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dry_run_reports_what_would_happen_and_stores_nothing()
    {
        var result = await RunWithStdin(Web, "apply", "-f", "-", "--dry-run");
        var services = await Run("get", "services");

        Assert.Equal(["service/web created (dry run)"], result.StdoutLines);
        Assert.Equal(["No services found."], services.StderrLines);
    }

    [Fact]
    public async Task A_bad_spec_prints_each_problem_with_file_and_line_and_changes_nothing()
    {
        var path = Write("web.yaml", Web.Replace("128Mi", "128MB", StringComparison.Ordinal).Replace("replicas: 3", "replicas: -1", StringComparison.Ordinal));

        var result = await Run("apply", "-f", path);
        var services = await Run("get", "services");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(3, result.StderrLines.Length);
        Assert.Contains(result.StderrLines, l => l.StartsWith($"{path}:3: replicas:", StringComparison.Ordinal));
        Assert.Contains(result.StderrLines, l => l.StartsWith($"{path}:6: resources.memory:", StringComparison.Ordinal) && l.Contains("128Mi", StringComparison.Ordinal));
        Assert.Equal($"error: {path} has 2 problems; nothing was applied", result.StderrLines[^1]);
        Assert.Equal(0, services.ExitCode);
        Assert.Equal("", services.Stdout);
        Assert.Equal(["No services found."], services.StderrLines);
    }

    [Fact]
    public async Task Apply_and_plan_of_a_port_another_service_publishes_name_it_and_change_nothing()
    {
        await RunWithStdin(Web, "apply", "-f", "-");
        var path = Write("api.yaml", Web.Replace("name: web", "name: api", StringComparison.Ordinal));

        var applied = await Run("apply", "-f", path);
        var planned = await Run("plan", "-f", path);
        var services = await Run("get", "services", "-o", "json");

        var expected = $"{path}:1: ports[0].published: 8080 is already published by the service \"web\"; every node listens on a published port for one service only, so use a different port, such as 8081 (or change or delete service \"web\" first)";
        Assert.Equal(1, applied.ExitCode);
        Assert.Equal("", applied.Stdout);
        Assert.Equal([expected, $"error: {path} has 1 problem; nothing was applied"], applied.StderrLines);
        Assert.NotEqual(0, planned.ExitCode);
        Assert.Contains(expected, planned.StderrLines);
        Assert.DoesNotContain("\"api\"", services.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_shows_the_applied_service_in_a_table_and_as_json()
    {
        await RunWithStdin(Web, "apply", "-f", "-");

        var table = await Run("get", "svc");
        var json = await Run("get", "service/web", "-o", "json");

        Assert.Equal(0, table.ExitCode);
        Assert.Equal("NAME   REPLICAS   REVISION   DRIVER   IMAGE/COMMAND   PORTS           AGE", table.StdoutLines[0]);
        Assert.StartsWith("web    0/3        1          docker   nginx:1.27      8080->80/http   ", table.StdoutLines[1], StringComparison.Ordinal);
        var service = Google.Protobuf.JsonParser.Default.Parse<V1.Service>(json.Stdout);
        Assert.Equal("nginx:1.27", service.Spec.Template.Image);
        Assert.Equal(3, service.Spec.Replicas);
    }

    [Fact]
    public async Task Get_endpoints_lists_every_service_or_one_with_the_version_it_was_written_at()
    {
        var store = new MessageStore(_cp.Store);
        var web = Samples.WebEndpoints();
        web.Version = 0;
        await store.PutAsync(StoreKeys.Endpoints("web"), web, 0, cancellationToken: TestContext.Current.CancellationToken);
        var api = new ServiceEndpoints { Service = "api", Ports = { new PortEndpoints { Port = "grpc", Protocol = Protocol.Tcp } } };
        await store.PutAsync(StoreKeys.Endpoints("api"), api, 0, cancellationToken: TestContext.Current.CancellationToken);
        var webRevision = (await _cp.Store.GetAsync(StoreKeys.Endpoints("web"), 0, TestContext.Current.CancellationToken)).Kv!.ModRevision;

        var all = await Run("get", "endpoints");
        var one = await Run("get", "ep", "web");
        var json = await Run("get", "endpoints/web", "-o", "json");
        var missing = await Run("get", "endpoints", "nosuch");

        Assert.Equal(0, all.ExitCode);
        Assert.Equal(["SERVICE", "PORT", "PUBLISHED", "PROTOCOL", "ENDPOINTS", "VERSION", "AGE"], Words(all.StdoutLines[0]));
        Assert.Equal(["api", "grpc", "<none>", "tcp", "<none>"], Words(all.StdoutLines[1])[..5]);
        Assert.Equal(["web", "http", "8080", "http", "127.0.0.2:20001,127.0.0.3:20004", $"{webRevision}"], Words(all.StdoutLines[2])[..6]);

        // AGE: how long ago the set changed; a set without that time has none.
        Assert.Matches("^[0-9]+[smhdy]", Words(all.StdoutLines[2])[6]);
        Assert.Equal("<none>", Words(all.StdoutLines[1])[6]);
        Assert.Equal(0, one.ExitCode);
        Assert.Equal(2, one.StdoutLines.Length);
        Assert.Equal(webRevision, Google.Protobuf.JsonParser.Default.Parse<ServiceEndpoints>(json.Stdout).Version);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("nosuch", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scale_changes_the_count_and_keeps_the_revision()
    {
        await RunWithStdin(Web, "apply", "-f", "-");

        var result = await Run("scale", "service", "web", "--replicas", "5");
        var history = await Run("rollout", "history", "web");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["service/web scaled from 3 to 5"], result.StdoutLines);
        Assert.Equal(2, history.StdoutLines.Length);
        Assert.StartsWith("1 ", history.StdoutLines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_removes_the_service_and_a_second_delete_says_it_is_not_found()
    {
        await RunWithStdin(Web, "apply", "-f", "-");

        var first = await Run("delete", "svc/web");
        var second = await Run("delete", "svc/web");
        var get = await Run("get", "service", "web");

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(["service/web deleted"], first.StdoutLines);
        Assert.Equal(1, second.ExitCode);
        Assert.Single(second.StderrLines);
        Assert.StartsWith("error: ", second.Stderr, StringComparison.Ordinal);
        Assert.Contains("not found", second.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, get.ExitCode);
    }

    [Fact]
    public async Task Describe_shows_spec_with_defaults_and_revision_history()
    {
        await RunWithStdin(Web, "apply", "-f", "-");

        var result = await Run("describe", "service", "web");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Name:             web", result.StdoutLines);
        Assert.Contains("  Image:          nginx:1.27", result.StdoutLines);
        Assert.Contains("  Resources:      cpu 250m, memory 128Mi", result.StdoutLines);
        Assert.Contains(result.StdoutLines, l => l.StartsWith("  1 (current)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Version_reports_the_servers_store()
    {
        var result = await Run("version");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("Client: orc 0.1.0", result.StdoutLines[0]);
        Assert.StartsWith($"Server: ", result.StdoutLines[1], StringComparison.Ordinal);
        Assert.Contains("sqlite", result.StdoutLines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_prints_the_current_table_then_a_row_per_change_until_interrupted()
    {
        await RunWithStdin(Web, "apply", "-f", "-");
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var watch = Orc.RunAsync(["get", "services", "-w", "--server", Server], console, interrupt.Token);
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length >= 2, "the initial table");
        var scaled = await Run("scale", "svc/web", "--replicas", "4");
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length >= 3, "a row for the change");
        await interrupt.CancelAsync();
        var exitCode = await watch.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(0, scaled.ExitCode);
        Assert.Equal(0, exitCode);
        var lines = Orc.Lines(console.Stdout);
        Assert.StartsWith("NAME", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("web    0/3", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("web", lines[2], StringComparison.Ordinal);
        Assert.Contains("0/4", lines[2], StringComparison.Ordinal);
        Assert.Equal("", console.Stderr);
    }

    [Fact]
    public async Task Get_as_yaml_fed_back_to_apply_is_unchanged()
    {
        await RunWithStdin(Web, "apply", "-f", "-");

        var yaml = await Run("get", "service", "web", "-o", "yaml");
        var reapplied = await RunWithStdin(yaml.Stdout, "apply", "-f", "-");

        Assert.Equal(0, yaml.ExitCode);
        Assert.StartsWith("kind: Service\nname: web\n", yaml.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, reapplied.ExitCode);
        Assert.Equal(["service/web unchanged"], reapplied.StdoutLines);
    }

    [Fact]
    public async Task A_list_as_yaml_is_a_multi_document_spec_that_applies_unchanged()
    {
        await RunWithStdin(Web + "\n---\n" + Web.Replace("name: web", "name: api", StringComparison.Ordinal).Replace("published: 8080", "published: 8081", StringComparison.Ordinal), "apply", "-f", "-");

        var yaml = await Run("get", "services", "-o", "yaml");
        var reapplied = await RunWithStdin(yaml.Stdout, "apply", "-f", "-");

        Assert.Equal(0, reapplied.ExitCode);
        Assert.Equal(["service/api unchanged", "service/web unchanged"], reapplied.StdoutLines);
    }

    [Fact]
    public async Task A_job_as_yaml_applies_unchanged()
    {
        await RunWithStdin(Report, "apply", "-f", "-");

        var yaml = await Run("get", "job/report", "-o", "yaml");
        var reapplied = await RunWithStdin(yaml.Stdout, "apply", "-f", "-");

        Assert.Equal(["job/report unchanged"], reapplied.StdoutLines);
    }

    [Fact]
    public async Task Replicas_nodes_and_events_written_by_controllers_show_in_get_and_describe()
    {
        await RunWithStdin(Web, "apply", "-f", "-");
        var store = new MessageStore(_cp.Store);
        var ct = TestContext.Current.CancellationToken;
        // What the scheduler and an agent would write: the replica's spec and status under separate keys, a node, an event.
        var running = Samples.Running("web-7f3k2", "node-1", 20001);
        var status = running.Status;
        running.Status = null;
        Assert.NotNull(await store.PutAsync(StoreKeys.Replica("web-7f3k2"), running, 0, cancellationToken: ct));
        Assert.NotNull(await store.PutAsync(StoreKeys.ReplicaStatus("web-7f3k2"), status, 0, cancellationToken: ct));
        var node = Samples.Node("node-1", "127.0.0.2", NodeState.Ready, cordoned: false, TimeSpan.FromSeconds(2));
        var nodeStatus = node.Status;
        node.Status = null;
        Assert.NotNull(await store.PutAsync(StoreKeys.Node("node-1"), node, 0, cancellationToken: ct));
        Assert.NotNull(await store.PutAsync(StoreKeys.NodeStatus("node-1"), nodeStatus, 0, cancellationToken: ct));
        Assert.NotNull(await store.PutAsync(StoreKeys.Event("e1"), Samples.Scheduled(), 0, cancellationToken: ct));

        var replicas = await Run("get", "replicas", "--owner", "service/web");
        var nodes = await Run("get", "nodes");
        var replica = await Run("describe", "replica", "web-7f3k2");
        var service = await Run("describe", "service/web");

        Assert.Equal(0, replicas.ExitCode);
        Assert.Equal(["web-7f3k2", "service/web", "node-1", "Ready", "1", "127.0.0.2:20001"], Words(replicas.StdoutLines[1]).Take(6));
        Assert.Equal(["node-1", "Ready", "127.0.0.2", "750m/2", "384Mi/4Gi", "3"], Words(nodes.StdoutLines[1]).Take(6));
        Assert.Contains("  Chosen:         node-1: score 87 (least-allocated 80, spread 7)", replica.StdoutLines);
        Assert.Contains(service.StdoutLines, l => l.StartsWith("  web-7f3k2   node-1   Ready", StringComparison.Ordinal));
        Assert.Contains(service.StdoutLines, l => l.Contains("Scheduled web-7f3k2 on node-1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Describe_job_shows_completions_parallelism_and_the_quoted_command()
    {
        await RunWithStdin(Report, "apply", "-f", "-");

        var result = await Run("describe", "job/report");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Completions:      0/5 succeeded, 0 active, 0 failed", result.StdoutLines);
        Assert.Contains("Parallelism:      2", result.StdoutLines);
        Assert.Contains("  Command:        sh -c \"echo done\"", result.StdoutLines);
    }

    [Fact]
    public async Task A_watch_ends_with_one_error_line_when_the_control_plane_stops()
    {
        await RunWithStdin(Web, "apply", "-f", "-");
        using var console = new TestConsole();

        var watch = Orc.RunAsync(["get", "services", "-w", "--server", Server], console, TestContext.Current.CancellationToken);
        await Orc.EventuallyAsync(() => Orc.Lines(console.Stdout).Length >= 2, "the initial table");
        await _cp.App.StopAsync(TestContext.Current.CancellationToken);
        var exitCode = await watch.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Equal(1, exitCode);
        var error = Assert.Single(Orc.Lines(console.Stderr));
        Assert.StartsWith($"error: lost the watch on the control plane at {Server}", error, StringComparison.Ordinal);
    }
}
