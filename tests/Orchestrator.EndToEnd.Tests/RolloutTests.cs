using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// Rollouts with real orc-demo processes on a 3-node cluster: a template change replaces every
/// replica under the update strategy while `orc rollout status` follows it, and a revision that
/// crash-loops is rolled back by itself.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class RolloutTests : IAsyncLifetime
{
    private const string Owner = "service/demo";

    private TestCluster _cluster = null!;

    private static string DemoDll => Path.Combine(AppContext.BaseDirectory, "orc-demo.dll");

    private static string DemoService(string message, string crashAfter = "") => $$"""
        kind: Service
        name: demo
        replicas: 3
        driver: process
        command: ["dotnet", "{{DemoDll}}"]
        env: { DEMO_MESSAGE: "{{message}}"{{(crashAfter.Length > 0 ? $", DEMO_CRASH_AFTER: {crashAfter}" : "")}} }
        resources: { cpu: 100m, memory: 128Mi }
        ports:
          - { name: http }
        health:
          readiness: { http: /healthz, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
        restart: always
        stopGracePeriod: 5s
        update: { maxSurge: 1, maxUnavailable: 0, progressDeadline: 50s }
        """;

    public async ValueTask InitializeAsync()
    {
        Assert.True(File.Exists(DemoDll), $"{DemoDll} is missing: the project reference to examples/demo-app builds it beside the tests");
        _cluster = await TestCluster.StartAsync(nodes: 3);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    private async Task<Service> ServiceAsync() =>
        (await _cluster.Api.GetAsync(new GetRequest { Kind = ObjectKind.Service, Name = "demo" }, cancellationToken: TestContext.Current.CancellationToken)).Object.Service;

    [Fact]
    public async Task A_template_change_replaces_all_three_replicas_and_a_crash_looping_one_is_rolled_back()
    {
        await _cluster.ApplyAsync(DemoService("one"));
        var first = await _cluster.WaitReadyAsync(Owner, 3);

        Assert.Equal(2, Assert.Single((await _cluster.ApplyAsync(DemoService("two"))).Results).Revision);
        var status = await Orc.RunAsync("rollout", "status", "demo", "--server", _cluster.Server);

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal("service/demo rolled out: revision 2, 3 of 3 available", status.StdoutLines[^1]);
        var second = await _cluster.WaitReadyAsync(Owner, 3);
        Assert.All(second, r => Assert.Equal(2, r.Spec.Revision));
        Assert.Empty(second.Select(r => r.Meta.Name).Intersect(first.Select(r => r.Meta.Name)));
        foreach (var replica in second)
        {
            Assert.Contains("two", await _cluster.GetTextAsync(replica), StringComparison.Ordinal);
        }

        // Revision 3 exits a second after it starts, again and again: the controller goes back to revision 2.
        Assert.Equal(3, Assert.Single((await _cluster.ApplyAsync(DemoService("three", crashAfter: "1s"))).Results).Revision);
        status = await Orc.RunAsync("rollout", "status", "demo", "--server", _cluster.Server);

        Assert.True(status.ExitCode == 1, status.ToString());
        Assert.Contains("rolled back to revision 2", status.Stderr, StringComparison.Ordinal);
        var service = await TestCluster.EventuallyAsync(ServiceAsync, s => s.Status?.Rollout == RolloutState.RolledBack, "the rollback");
        Assert.Equal((2L, 3L), (service.Revision, service.Status.FailedRevision));
        var back = await TestCluster.EventuallyAsync(
            () => _cluster.ReplicasAsync(Owner),
            rs => rs.Count == 3 && rs.All(r => r.Spec.Revision == 2 && r.Status?.Phase == Phase.Ready),
            "three Ready replicas of revision 2 and none of revision 3",
            TestCluster.Describe);

        // Going back keeps the revision-2 replicas that still run rather than restarting them. A
        // revision-3 replica may have been Ready for a moment before its first crash, letting one
        // revision-2 replica retire (surge 1): that one is replaced, the others are the same.
        Assert.True(
            back.Select(r => r.Meta.Name).Intersect(second.Select(r => r.Meta.Name)).Count() >= 2,
            $"kept: {string.Join(", ", back.Select(r => r.Meta.Name))}; before: {string.Join(", ", second.Select(r => r.Meta.Name))}");
    }
}
