using System.Diagnostics;
using System.Net;
using Grpc.Net.Client;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Host;

/// <summary>The real orc-control-plane executable as a child process, over a SQLite store in a temp dir.</summary>
public sealed class ControlPlaneProcessTests : IDisposable
{
    private readonly TempDirectory _dir = new("orc-cp-process");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A service as applied: meta without the store's resource version, spec and template revision; no status.</summary>
    private static Service Applied(V1.Object item)
    {
        var service = item.Service.Clone();
        service.Status = null;
        service.Meta.ResourceVersion = 0;
        return service;
    }

    public void Dispose() => _dir.Dispose();

    private string StoreUrl => "sqlite://" + _dir.File("data/state.db");

    private const string Specs = """
        kind: Service
        name: web
        replicas: 3
        image: nginx:1.26
        ports:
          - { name: http, port: 80 }
        ---
        kind: Service
        name: api
        replicas: 2
        driver: process
        command: ["python3", "-m", "http.server", "${PORT}"]
        ports:
          - { name: http, port: 8000 }
        """;

    [Fact]
    public async Task A_killed_control_plane_restarts_on_its_data_and_serves_exactly_what_was_applied()
    {
        ListResponse before;
        HistoryResponse historyBefore;
        await using (var first = await ControlPlaneProcess.StartAsync(StoreUrl, cancellationToken: Ct))
        {
            using var channel = GrpcChannel.ForAddress(first.GrpcUrl);
            var client = new Cluster.ClusterClient(channel);
            await client.ApplyAsync(new ApplyRequest { SourceName = "app.yaml", Content = Specs }, cancellationToken: Ct);
            var configured = await client.ApplyAsync(new ApplyRequest { SourceName = "app.yaml", Content = Specs.Replace("nginx:1.26", "nginx:1.27", StringComparison.Ordinal) }, cancellationToken: Ct);
            Assert.Contains(configured.Results, r => r is { Name: "web", Outcome: ApplyOutcome.Configured, Revision: 2 });
            before = await client.ListAsync(new ListRequest { Kind = ObjectKind.Service }, cancellationToken: Ct);
            historyBefore = await client.HistoryAsync(new HistoryRequest { Service = "web" }, cancellationToken: Ct);

            await first.KillAsync();
        }

        await using var second = await ControlPlaneProcess.StartAsync(StoreUrl, cancellationToken: Ct);
        using var channel2 = GrpcChannel.ForAddress(second.GrpcUrl);
        var client2 = new Cluster.ClusterClient(channel2);

        var after = await client2.ListAsync(new ListRequest { Kind = ObjectKind.Service }, cancellationToken: Ct);
        Assert.Equal(["api", "web"], after.Items.Select(i => i.Service.Meta.Name));
        // What was applied (the controllers may have written status since, in either process).
        Assert.Equal(before.Items.Select(Applied), after.Items.Select(Applied));
        Assert.Equal(historyBefore, await client2.HistoryAsync(new HistoryRequest { Service = "web" }, cancellationToken: Ct));
        var web = after.Items.Single(i => i.Service.Meta.Name == "web").Service;
        Assert.Equal((2L, 2L, "nginx:1.27"), (web.Revision, web.Meta.Generation, web.Spec.Template.Image));
        var again = await client2.ApplyAsync(new ApplyRequest { SourceName = "app.yaml", Content = Specs.Replace("nginx:1.26", "nginx:1.27", StringComparison.Ordinal) }, cancellationToken: Ct);
        Assert.All(again.Results, r => Assert.Equal(ApplyOutcome.Unchanged, r.Outcome));
    }

    [Fact]
    public async Task Health_and_metrics_answer_over_http_1_1_on_their_own_port()
    {
        await using var cp = await ControlPlaneProcess.StartAsync(StoreUrl, cancellationToken: Ct);
        using (var channel = GrpcChannel.ForAddress(cp.GrpcUrl))
        {
            await new Cluster.ClusterClient(channel).ApplyAsync(new ApplyRequest { SourceName = "app.yaml", Content = Specs }, cancellationToken: Ct);
        }

        using var http = new HttpClient { BaseAddress = cp.HttpUrl, DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        using var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version11), (health.StatusCode, health.Version));
        Assert.Equal("ok\n", await health.Content.ReadAsStringAsync(Ct));

        using var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("store sqlite://", await ready.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        using var metrics = await http.GetAsync(new Uri("/metrics", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        var text = await metrics.Content.ReadAsStringAsync(Ct);
        Assert.Contains("orc_controlplane_applies_total{", text, StringComparison.Ordinal);
        Assert.Contains("outcome=\"created\"", text, StringComparison.Ordinal);
        Assert.Contains("orc_controlplane_store_operation_duration_seconds_bucket{", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_ends_open_watch_streams_and_exits_cleanly_with_nothing_lost()
    {
        var cp = await ControlPlaneProcess.StartAsync(StoreUrl, cancellationToken: Ct);
        await using (cp)
        {
            using var channel = GrpcChannel.ForAddress(cp.GrpcUrl);
            var client = new Cluster.ClusterClient(channel);
            await client.ApplyAsync(new ApplyRequest { SourceName = "app.yaml", Content = Specs }, cancellationToken: Ct);
            using var watch = client.Watch(new WatchRequest { Kind = ObjectKind.Service }, cancellationToken: Ct);
            var events = new List<WatchEventType>();
            while (await watch.ResponseStream.MoveNext(Ct) && events.Count < 3)
            {
                events.Add(watch.ResponseStream.Current.Type);
                if (watch.ResponseStream.Current.Type == WatchEventType.Synced)
                {
                    break;
                }
            }

            Assert.Equal([WatchEventType.Added, WatchEventType.Added, WatchEventType.Synced], events);

            var exit = cp.TerminateAsync(Ct);
            // The controllers may still write a service's status before the shutdown reaches the stream.
            var ended = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            {
                while (await watch.ResponseStream.MoveNext(Ct))
                {
                }
            });
            Assert.Equal(Grpc.Core.StatusCode.Unavailable, ended.StatusCode);
            Assert.Contains("shutting down", ended.Status.Detail, StringComparison.Ordinal);
            Assert.Equal(0, await exit);
            Assert.Contains("orc-control-plane stopping", cp.Output, StringComparison.Ordinal);
        }

        await using var restarted = await ControlPlaneProcess.StartAsync(StoreUrl, cancellationToken: Ct);
        using var channel2 = GrpcChannel.ForAddress(restarted.GrpcUrl);
        var list = await new Cluster.ClusterClient(channel2).ListAsync(new ListRequest { Kind = ObjectKind.Service }, cancellationToken: Ct);
        Assert.Equal(["api", "web"], list.Items.Select(i => i.Service.Meta.Name));
    }

    [Theory]
    [InlineData("--bogus", "unknown option --bogus")]
    [InlineData("--store=ftp://x", "is not a store address")]
    public async Task A_bad_flag_exits_2_with_one_clear_line_and_no_stack_trace(string arg, string expected)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(ControlPlaneProcess.HostDll());
        start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);

        Assert.Equal(2, process.ExitCode);
        var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("orc-control-plane: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.Equal("", await stdout);
    }
}
