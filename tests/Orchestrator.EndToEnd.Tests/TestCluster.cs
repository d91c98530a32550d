using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Orchestrator.Cli.Client;
using Orchestrator.Cli.Dev;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// One <see cref="DevCluster"/> for one test: the control plane on ephemeral loopback ports, N node
/// agents with a port block of their own, everything under a temp directory; plus a Cluster API
/// client on it and the waits the tests share. Disposing it stops the cluster (which stops and
/// removes every replica) and deletes the directory.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    /// <summary>Bound on every wait: long enough for a loaded CI machine, short enough that a hang fails the test.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private const int PortsPerNode = 20;

    private readonly TempDirectory _dir;
    private readonly ClusterConnection _connection;
    private int _disposed;

    private TestCluster(TempDirectory dir, DevCluster cluster)
    {
        _dir = dir;
        Cluster = cluster;
        _connection = new ClusterConnection(cluster.GrpcUrl, TimeSpan.FromSeconds(30));
        Http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
    }

    public DevCluster Cluster { get; }

    public Cluster.ClusterClient Api => _connection.Client;

    /// <summary>For talking to replicas directly.</summary>
    public HttpClient Http { get; }

    /// <summary>The cluster's data directory: the store and every node's process-runtime state.</summary>
    public string DataDir => _dir.Path;

    /// <summary>The control plane as <c>orc --server</c> takes it.</summary>
    public string Server => Cluster.GrpcUrl.ToString().TrimEnd('/');

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public static async Task<TestCluster> StartAsync(int nodes = 3, RuntimeMode runtime = RuntimeMode.Process, Action<WebApplicationBuilder>? configureControlPlane = null)
    {
        var dir = new TempDirectory("orc-e2e");
        try
        {
            var cluster = await DevCluster.StartAsync(
                new DevClusterOptions
                {
                    DataDir = dir.Path,
                    Listen = "127.0.0.1:0",
                    HttpListen = "127.0.0.1:0",
                    AgentHttpPort = 0,
                    Nodes = nodes,
                    Runtime = runtime,
                    FirstPort = PortBlock.Reserve(nodes * PortsPerNode),
                    PortsPerNode = PortsPerNode,
                    ConfigureControlPlane = configureControlPlane,
                },
                Token);
            var started = new TestCluster(dir, cluster);
            try
            {
                // Agents register on their own after StartAsync returns; a spec applied before that
                // would be placed on whichever nodes happened to be there.
                await started.WaitNodesReadyAsync();
            }
            catch
            {
                await started.DisposeAsync();
                throw;
            }

            return started;
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>Waits until every node of the cluster is registered and Ready.</summary>
    public Task WaitNodesReadyAsync() =>
        EventuallyAsync(
            async () => (await Api.ListAsync(new ListRequest { Kind = ObjectKind.Node }, cancellationToken: Token)).Items.Select(o => o.Node).ToList(),
            nodes => nodes.Count == Cluster.Nodes.Count && nodes.All(n => n.Status?.State == NodeState.Ready),
            $"{Cluster.Nodes.Count} Ready nodes",
            nodes => string.Join("; ", nodes.Select(n => $"{n.Meta.Name} {n.Status?.State}")));

    public async Task<ApplyResponse> ApplyAsync(string yaml)
    {
        var response = await Api.ApplyAsync(new ApplyRequest { SourceName = "test.yaml", Content = yaml }, cancellationToken: Token);
        Assert.All(response.Results, r => Assert.NotEqual(ApplyOutcome.Unspecified, r.Outcome));
        return response;
    }

    public async Task<IReadOnlyList<Replica>> ReplicasAsync(string owner)
    {
        var list = await Api.ListAsync(new ListRequest { Kind = ObjectKind.Replica, Owner = owner }, cancellationToken: Token);
        return [.. list.Items.Select(o => o.Replica).OrderBy(r => r.Meta.Name, StringComparer.Ordinal)];
    }

    public async Task<Replica> ReplicaAsync(string id)
    {
        var got = await Api.GetAsync(new GetRequest { Kind = ObjectKind.Replica, Name = id }, cancellationToken: Token);
        return got.Object.Replica;
    }

    /// <summary>Polls <paramref name="read"/> every 100 ms until <paramref name="done"/> holds, at most <see cref="Patience"/>.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what, Func<T, string>? describe = null)
    {
        var deadline = TimeProvider.System.GetUtcNow() + Patience;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            if (TimeProvider.System.GetUtcNow() >= deadline)
            {
                Assert.Fail($"timed out after {Patience.TotalSeconds:0}s waiting for {what}; last seen: {(describe ?? (v => v?.ToString() ?? "null"))(value)}");
            }

            await Task.Delay(PollInterval, TimeProvider.System, Token);
        }
    }

    /// <summary>Waits until <paramref name="owner"/> has exactly <paramref name="count"/> replicas, all <c>Ready</c>.</summary>
    public Task<IReadOnlyList<Replica>> WaitReadyAsync(string owner, int count) =>
        EventuallyAsync(
            () => ReplicasAsync(owner),
            rs => rs.Count == count && rs.All(r => r.Status?.Phase == Phase.Ready),
            $"{count} Ready replicas of {owner}",
            Describe);

    /// <summary>Waits until replica <paramref name="id"/> satisfies <paramref name="done"/>.</summary>
    public Task<Replica> WaitReplicaAsync(string id, Func<Replica, bool> done, string what) =>
        EventuallyAsync(() => ReplicaAsync(id), done, $"{id}: {what}", r => Describe([r]));

    public static string Describe(IReadOnlyList<Replica> replicas) =>
        replicas.Count == 0
            ? "no replicas"
            : string.Join("; ", replicas.Select(r =>
                $"{r.Meta.Name} on {r.Spec?.Node} {r.Status?.Phase} reason={r.Status?.Reason} restarts={r.Status?.Restarts} exit={r.Status?.ExitCode} message={r.Status?.Message}"));

    /// <summary>The replica's <c>http</c> endpoint as reported in its status.</summary>
    public static Uri Endpoint(Replica replica)
    {
        var endpoint = replica.Status.Endpoints["http"];
        return new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{endpoint.Address}:{endpoint.Port}/"));
    }

    /// <summary>What orc-demo says about itself (<c>GET /info</c>).</summary>
    public async Task<DemoInfo> DemoInfoAsync(Replica replica) =>
        (await Http.GetFromJsonAsync<DemoInfo>(new Uri(Endpoint(replica), "info"), DemoInfo.Json, Token))!;

    public async Task<string> GetTextAsync(Replica replica, string path = "") =>
        await Http.GetStringAsync(new Uri(Endpoint(replica), path), Token);

    public async Task PostAsync(Replica replica, string path)
    {
        using var response = await Http.PostAsync(new Uri(Endpoint(replica), path), content: null, Token);
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        try
        {
            await Cluster.DisposeAsync();
        }
        finally
        {
            _connection.Dispose();
            Http.Dispose();
            _dir.Dispose();
        }
    }
}

/// <summary>orc-demo's <c>GET /info</c>, the fields these tests read.</summary>
internal sealed record DemoInfo(string ReplicaId, string Node, int Pid, int Port, DateTimeOffset StartedAt)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.Strict };
}
