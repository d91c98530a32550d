using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.ControlPlane.Leadership;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Tests.Controllers;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Leadership;

/// <summary>
/// Three real orc-control-plane processes on one real etcd, and a real node agent (in this
/// process, with the process runtime) that knows two of them: one leads, a kill -9 of the leader
/// hands the work to another within the lease TTL plus a margin, nothing is done twice, the agent
/// moves to a survivor, and a paused leader that wakes up after being replaced writes nothing.
/// </summary>
[Collection(ControlPlaneFailoverCollection.Name)]
public sealed class ControlPlaneFailoverTests(EtcdFixture etcd) : IClassFixture<EtcdFixture>, IAsyncLifetime
{
    /// <summary>The default leader lease TTL (LeaderElectionOptions.LeaseTtl).</summary>
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    /// <summary>
    /// What a failover may take beyond the TTL on a loaded two-core machine (process start-up is
    /// not in it): the survivors' watch, the campaign transaction, and scheduling noise. Far above
    /// what it takes (see docs/benchmarks.md), so it fails on a broken failover, not a slow one.
    /// </summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(12);

    private readonly TempDirectory _dir = new("orc-failover");
    private readonly List<ControlPlaneProcess> _planes = [];
    private readonly List<GrpcChannel> _channels = [];
    private WebApplication? _agent;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.StopAsync(CancellationToken.None);
            await _agent.DisposeAsync();
        }

        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        foreach (var plane in _planes)
        {
            await plane.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<(ControlPlaneProcess Process, Cluster.ClusterClient Client)[]> StartPlanesAsync(string store)
    {
        var started = await Task.WhenAll(Enumerable.Range(1, 3).Select(i =>
            ControlPlaneProcess.StartAsync(store, ["--member-id", $"cp-{i}"], Ct)));
        _planes.AddRange(started);
        return started.Select(p =>
        {
            var channel = GrpcChannel.ForAddress(p.GrpcUrl);
            _channels.Add(channel);
            return (p, new Cluster.ClusterClient(channel));
        }).ToArray();
    }

    private static async Task<VersionResponse?> VersionAsync(Cluster.ClusterClient client)
    {
        // A paused or killed control plane does not answer: count it as not answering, not as a hang.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), TimeProvider.System);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, Ct);
        try
        {
            return await client.VersionAsync(new VersionRequest(), cancellationToken: linked.Token);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    /// <summary>Waits until exactly one of <paramref name="planes"/> says it leads and every one names it; returns its index.</summary>
    private static async Task<int> LeaderAsync(IReadOnlyList<(ControlPlaneProcess Process, Cluster.ClusterClient Client)> planes, string what)
    {
        var leader = -1;
        await Eventually.TrueAsync(
            async () =>
            {
                var versions = await Task.WhenAll(planes.Select(p => VersionAsync(p.Client)));
                if (versions.Any(v => v is null) || versions.Count(v => v!.Leader) != 1)
                {
                    return false;
                }

                var index = Array.FindIndex(versions, v => v!.Leader);
                if (versions.Any(v => v!.LeaderId != versions[index]!.MemberId || v.LeaderTermRevision == 0))
                {
                    return false;
                }

                leader = index;
                return true;
            },
            what,
            Ct);
        return leader;
    }

    private static async Task<List<Replica>> ReplicasAsync(Cluster.ClusterClient client)
    {
        var list = await client.ListAsync(new ListRequest { Kind = ObjectKind.Replica, Owner = "service/web" }, cancellationToken: Ct);
        return list.Items.Select(i => i.Replica).ToList();
    }

    private async Task<Orchestrator.NodeAgent.Agent.NodeAgent> StartAgentAsync(IReadOnlyList<Uri> servers)
    {
        var ports = FreePort.Next();
        var options = new NodeAgentOptions
        {
            Servers = servers,
            NodeName = "node-1",
            Address = "127.0.0.1",
            Runtime = RuntimeMode.Process,
            CpuMillis = 4000,
            MemoryBytes = 8L << 30,
            FirstPort = 31000,
            LastPort = 31099,
            StateDirectory = _dir.File("agent"),
            HttpListen = $"127.0.0.1:{ports.ToString(CultureInfo.InvariantCulture)}",
            StopAllOnShutdown = true,
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };
        _agent = NodeAgentApp.Build(options, dockerVersion: null, b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await _agent.StartAsync(Ct);
        return _agent.Services.GetRequiredService<Orchestrator.NodeAgent.Agent.NodeAgent>();
    }

    private const string Web = """
        kind: Service
        name: web
        replicas: 2
        driver: process
        command: ["sleep", "300"]
        resources: { cpu: 10m, memory: 16Mi }
        """;

    [Fact]
    public async Task A_killed_leader_is_replaced_within_the_lease_ttl_and_the_new_leader_finishes_its_work_once()
    {
        var planes = await StartPlanesAsync("etcd://" + etcd.Require().Endpoint);
        var first = await LeaderAsync(planes, "one leader among three");
        var survivors = planes.Where((_, i) => i != first).ToArray();

        // Every control plane is listed, the leader as such, whichever one answers.
        var members = await survivors[0].Client.ListAsync(new ListRequest { Kind = ObjectKind.ControlPlane }, cancellationToken: Ct);
        Assert.Equal(["cp-1", "cp-2", "cp-3"], members.Items.Select(i => i.ControlPlane.Id));
        Assert.Equal($"cp-{first + 1}", members.Items.Single(i => i.ControlPlane.Leader).ControlPlane.Id);

        // The agent knows the leader first, then a survivor.
        var agent = await StartAgentAsync([planes[first].Process.GrpcUrl, survivors[0].Process.GrpcUrl]);
        await Eventually.TrueAsync(() => agent.ConnectedTo == planes[first].Process.GrpcUrl, "the agent connects to the leader", Ct);
        await planes[first].Client.ApplyAsync(new ApplyRequest { SourceName = "web.yaml", Content = Web }, cancellationToken: Ct);
        await Eventually.TrueAsync(async () => (await ReplicasAsync(survivors[0].Client)) is { Count: 2 } r && r.All(x => x.Spec.Node == "node-1"), "two replicas placed on node-1", Ct);

        await planes[first].Process.KillAsync();
        var killed = Stopwatch.StartNew();
        await survivors[1].Client.ScaleAsync(new ScaleRequest { Service = "web", Replicas = 4 }, cancellationToken: Ct);

        var second = await LeaderAsync(survivors, "a new leader among the survivors");
        var failover = killed.Elapsed;
        Assert.True(failover < Ttl + Margin, $"a new leader took {failover.TotalSeconds:F1} s after the kill (lease TTL {Ttl.TotalSeconds} s)");

        // The new leader's controller and scheduler act: four replicas, each placed once.
        await Eventually.TrueAsync(async () => (await ReplicasAsync(survivors[second].Client)) is { Count: 4 } r && r.All(x => x.Spec.Node == "node-1"), "four replicas placed", Ct);
        for (var look = 0; look < 5; look++)
        {
            var replicas = await ReplicasAsync(survivors[second].Client);
            Assert.Equal(4, replicas.Count);
            Assert.Equal(4, replicas.Select(r => r.Meta.Name).Distinct().Count());
            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, Ct);
        }

        // The agent moved to the survivor it was given, and the killed member's record expired with its lease.
        await Eventually.TrueAsync(() => agent.ConnectedTo == survivors[0].Process.GrpcUrl, "the agent reconnects to the survivor", Ct);
        await Eventually.TrueAsync(
            async () => (await survivors[0].Client.ListAsync(new ListRequest { Kind = ObjectKind.ControlPlane }, cancellationToken: Ct)).Items.Count == 2,
            "the killed control plane's record expires",
            Ct);
        await Eventually.TrueAsync(
            async () => (await survivors[0].Client.GetAsync(new GetRequest { Kind = ObjectKind.Node, Name = "node-1" }, cancellationToken: Ct)).Object.Node.Status.State == NodeState.Ready,
            "node-1 Ready through the survivor",
            Ct);
    }

    [Fact]
    public async Task A_paused_leader_that_wakes_after_being_replaced_writes_nothing_and_follows()
    {
        var planes = await StartPlanesAsync("etcd://" + etcd.Require().Endpoint);
        var first = await LeaderAsync(planes, "one leader among three");
        var survivors = planes.Where((_, i) => i != first).ToArray();
        await survivors[0].Client.ApplyAsync(new ApplyRequest { SourceName = "web.yaml", Content = Web }, cancellationToken: Ct);
        await Eventually.TrueAsync(async () => (await ReplicasAsync(survivors[0].Client)).Count == 2, "two replicas", Ct);

        // SIGSTOP: the process keeps its sockets but runs nothing, like a long GC pause or a frozen VM.
        Signal(planes[first].Process.ProcessId, "STOP");
        try
        {
            await LeaderAsync(survivors, "a new leader while the old one is paused");
            await survivors[0].Client.ScaleAsync(new ScaleRequest { Service = "web", Replicas = 3 }, cancellationToken: Ct);
            await Eventually.TrueAsync(async () => (await ReplicasAsync(survivors[0].Client)).Count == 3, "three replicas", Ct);
        }
        finally
        {
            Signal(planes[first].Process.ProcessId, "CONT");
        }

        // Awake, it learns it lost the term and follows; whatever it was about to write was fenced.
        var leader = await LeaderAsync(planes, "one leader among all three again");
        Assert.NotEqual(first, leader);
        await Eventually.TrueAsync(
            async () => (await planes[first].Client.ListAsync(new ListRequest { Kind = ObjectKind.ControlPlane }, cancellationToken: Ct)).Items.Count == 3,
            "the woken control plane registers again",
            Ct);
        for (var look = 0; look < 5; look++)
        {
            var replicas = await ReplicasAsync(planes[leader].Client);
            Assert.Equal(3, replicas.Count);
            Assert.Equal(3, replicas.Select(r => r.Meta.Name).Distinct().Count());
            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, Ct);
        }

        Assert.Contains("no longer leads", planes[first].Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fenced_binding_transaction_as_large_as_the_schedulers_largest_fits_etcds_limit()
    {
        await using var store = await StateStoreFactory.OpenAsync("etcd://" + etcd.Require().Endpoint, TimeProvider.System, cancellationToken: Ct);
        var elector = new LeaderElector(store, TimeProvider.System, new LeaderElectionOptions(), "cp-limit", () => "", NullLogger<LeaderElector>.Instance);
        await elector.StartAsync(Ct);
        try
        {
            await Eventually.TrueAsync(() => elector.IsLeader, "cp-limit leads", Ct);
            var max = new SchedulerOptions().MaxTxnOps;
            var keys = Enumerable.Range(0, max).Select(i => $"/orc/test/limit/{i:D3}").ToList();
            var txn = new Txn([.. keys.Select(Compare.Absent)], [.. keys.Select(k => TxnOp.Put(k, []))], [.. keys.Select(TxnOp.Get)]);

            var result = await new FencedStateStore(store, elector).TxnAsync(txn, Ct);

            Assert.True(result.Succeeded);
            Assert.Equal(max, (await store.ListAsync("/orc/test/limit/", cancellationToken: Ct)).Items.Count);
        }
        finally
        {
            await elector.StopAsync(CancellationToken.None);
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, pid.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }
}

/// <summary>
/// Three control plane processes, etcd and an agent load the machine's two cores: these tests
/// run alone, so they neither slow down the timing-sensitive tests of other classes nor are
/// slowed down by them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ControlPlaneFailoverCollection
{
    public const string Name = "control plane failover";
}
