using System.Net;
using System.Text.Json;

namespace Orchestrator.DemoApp.Tests;

/// <summary>The demo workload as a replica: it says who it is, and crashes, hangs or fails its health check on demand.</summary>
public class DemoAppTests
{
    private static readonly Dictionary<string, string> Identity = new(StringComparer.Ordinal)
    {
        ["ORC_REPLICA_ID"] = "demo-7f3k2",
        ["ORC_NODE"] = "node-2",
        ["ORC_SERVICE"] = "demo",
        ["ORC_REVISION"] = "4",
    };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Root_names_the_replica_node_service_and_revision_from_the_environment()
    {
        await using var demo = await DemoProcess.StartAsync(Identity, Ct);

        var text = await demo.Client.GetStringAsync("/", Ct);

        Assert.Equal("hello from demo-7f3k2 on node-2 (service demo, revision 4)\n", text);
    }

    [Fact]
    public async Task Info_answers_the_identity_and_the_port_from_the_environment_as_json()
    {
        await using var demo = await DemoProcess.StartAsync(
            new Dictionary<string, string>(Identity, StringComparer.Ordinal) { ["DEMO_MESSAGE"] = "blue" },
            Ct);

        using var info = JsonDocument.Parse(await demo.Client.GetStringAsync("/info", Ct));

        var root = info.RootElement;
        Assert.Equal("demo-7f3k2", root.GetProperty("replicaId").GetString());
        Assert.Equal("node-2", root.GetProperty("node").GetString());
        Assert.Equal("demo", root.GetProperty("service").GetString());
        Assert.Equal("4", root.GetProperty("revision").GetString());
        Assert.Equal("blue", root.GetProperty("message").GetString());
        Assert.Equal(demo.Port, root.GetProperty("port").GetInt32());
        Assert.Equal(demo.Process.Id, root.GetProperty("pid").GetInt32());
        Assert.True(root.GetProperty("healthy").GetBoolean());
    }

    [Fact]
    public async Task Healthz_fails_after_fail_health_and_passes_again_after_recover()
    {
        await using var demo = await DemoProcess.StartAsync(Identity, Ct);

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(demo, "/healthz"));

        using (var fail = await demo.Client.PostAsync("/fail-health", null, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, fail.StatusCode);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(demo, "/healthz"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(demo, "/healthz"));

        // A failing health check is not a failing replica: it still serves its page.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(demo, "/"));

        using (var recover = await demo.Client.PostAsync("/recover", null, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, recover.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(demo, "/healthz"));
    }

    [Fact]
    public async Task Crash_exits_the_process_with_the_code_asked_for()
    {
        await using var demo = await DemoProcess.StartAsync(Identity, Ct);

        using (var crash = await demo.Client.PostAsync("/crash?code=7", null, Ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, crash.StatusCode);
        }

        Assert.Equal(7, await demo.ExitCodeAsync(Ct));
    }

    [Theory]
    [InlineData("seven")]
    [InlineData("-1")]
    [InlineData("256")]
    public async Task Crash_with_a_code_that_is_not_an_exit_code_is_refused_and_the_process_keeps_running(string code)
    {
        await using var demo = await DemoProcess.StartAsync(Identity, Ct);

        using (var crash = await demo.Client.PostAsync($"/crash?code={code}", null, Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, crash.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(demo, "/healthz"));
        Assert.False(demo.Process.HasExited);
    }

    [Fact]
    public async Task After_hang_healthz_stops_answering_but_the_process_stays_alive()
    {
        await using var demo = await DemoProcess.StartAsync(Identity, Ct);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(demo, "/healthz"));

        using (var hang = await demo.Client.PostAsync("/hang", null, Ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, hang.StatusCode);
        }

        // A probe with a timeout: it must give up, which is what makes a liveness probe restart the replica.
        // The timeout bounds the wait; no answer ever comes, so its length does not decide the outcome.
        using var probe = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        probe.CancelAfter(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => demo.Client.GetAsync("/healthz", probe.Token));

        Assert.False(demo.Process.HasExited, "a hung replica is still running; only its answers stop");
    }

    [Fact]
    public async Task Sigterm_stops_it_cleanly_even_while_it_hangs()
    {
        await using var demo = await DemoProcess.StartAsync(Identity, Ct);
        using (var hang = await demo.Client.PostAsync("/hang", null, Ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, hang.StatusCode);
        }

        // A request stuck in the hang while the stop arrives.
        var stuck = demo.Client.GetAsync("/healthz", Ct);

        await demo.TerminateAsync(Ct);

        Assert.Equal(0, await demo.ExitCodeAsync(Ct));
        await Assert.ThrowsAnyAsync<Exception>(() => stuck);
    }

    private static async Task<HttpStatusCode> StatusAsync(DemoProcess demo, string path)
    {
        using var response = await demo.Client.GetAsync(path, Ct);
        return response.StatusCode;
    }
}
