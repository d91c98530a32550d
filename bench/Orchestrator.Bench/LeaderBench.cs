using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// Leader failover: three orc-control-plane processes on one etcd; SIGKILL the leader, at once
/// scale a service up through a survivor, and time (a) until a survivor says it leads and (b)
/// until the new leader's service controller has created the new replica (the new leader
/// acting). The killed process is started again before the next round. Baseline: the raw etcd
/// lease expiry with the same TTL (the time from the last keep-alive to the key's deletion, many
/// leases at once), which bounds any lease-based failover from below when the crash comes right
/// after a renewal.
/// </summary>
internal static class LeaderBench
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    private const string Spec = """
        kind: Service
        name: failover
        replicas: 1
        driver: process
        command: ["sleep", "300"]
        resources: { cpu: 10m, memory: 16Mi }
        """;

    public static async Task RunAsync(string etcdEndpoint, BenchOptions options, Report report)
    {
        var baseline = await MeasureLeaseExpiryAsync(etcdEndpoint, options.LeaderKills);
        var store = "etcd://" + etcdEndpoint;
        var planes = new ControlPlaneProcess?[3];
        var channels = new GrpcChannel?[3];
        try
        {
            for (var i = 0; i < 3; i++)
            {
                (planes[i], channels[i]) = await StartAsync(store, i);
            }

            var clients = channels.Select(c => new Cluster.ClusterClient(c!)).ToArray();
            var leader = await LeaderAsync(clients, except: -1);
            await clients[leader].ApplyAsync(new ApplyRequest { SourceName = "failover.yaml", Content = Spec });
            var replicas = 1;
            await ReplicasAsync(clients[(leader + 1) % 3], replicas);

            Latency elected = new(), acted = new();
            for (var round = 0; round < options.LeaderKills; round++)
            {
                var survivor = (leader + 1) % 3;
                await planes[leader]!.KillAsync();
                var killed = Stopwatch.GetTimestamp();
                replicas++;
                await clients[survivor].ScaleAsync(new ScaleRequest { Service = "failover", Replicas = replicas });
                var next = await LeaderAsync(clients, except: leader);
                elected.Record(killed);
                await ReplicasAsync(clients[next], replicas);
                acted.Record(killed);

                // Back to three before the next kill, the killed one under its own name again.
                await planes[leader]!.DisposeAsync();
                channels[leader]!.Dispose();
                (planes[leader], channels[leader]) = await StartAsync(store, leader);
                clients[leader] = new Cluster.ClusterClient(channels[leader]!);
                await MembersAsync(clients[next], 3);
                leader = next;
            }

            var scenario = string.Create(CultureInfo.InvariantCulture, $"leader kill -9, 3 control planes, x{options.LeaderKills}");
            report.Add(new Row(scenario, "etcd lease expiry (TTL 3 s)", double.NaN, baseline.P50, baseline.P99, "", null, "last keep-alive -> key deleted, raw lease"));
            report.Add(new Row(scenario, "kill -> new leader elected", double.NaN, elected.P50, elected.P99, "etcd lease expiry (TTL 3 s)", elected.P50 / baseline.P50, "a survivor's Version says it leads; time ratio of p50"));
            report.Add(new Row(scenario, "kill -> new leader acted", double.NaN, acted.P50, acted.P99, "etcd lease expiry (TTL 3 s)", acted.P50 / baseline.P50, "a scale sent at the kill has its new replica"));
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel?.Dispose();
            }

            foreach (var plane in planes)
            {
                if (plane is not null)
                {
                    await plane.DisposeAsync();
                }
            }
        }
    }

    private static async Task<(ControlPlaneProcess, GrpcChannel)> StartAsync(string store, int index)
    {
        var process = await ControlPlaneProcess.StartAsync(store, ["--member-id", string.Create(CultureInfo.InvariantCulture, $"cp-{index + 1}")]);
        return (process, GrpcChannel.ForAddress(process.GrpcUrl));
    }

    /// <summary>Polls every control plane but <paramref name="except"/> until exactly one says it leads.</summary>
    private static async Task<int> LeaderAsync(Cluster.ClusterClient[] clients, int except)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1), TimeProvider.System);
        while (true)
        {
            guard.Token.ThrowIfCancellationRequested();
            var leaders = new List<int>();
            for (var i = 0; i < clients.Length; i++)
            {
                if (i == except)
                {
                    continue;
                }

                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), TimeProvider.System);
                    if ((await clients[i].VersionAsync(new VersionRequest(), cancellationToken: timeout.Token)).Leader)
                    {
                        leaders.Add(i);
                    }
                }
                catch (RpcException)
                {
                    // Not answering (starting, or the one being killed): not the leader.
                }
            }

            if (leaders.Count == 1)
            {
                return leaders[0];
            }

            await Task.Delay(Poll, TimeProvider.System);
        }
    }

    private static async Task ReplicasAsync(Cluster.ClusterClient client, int count)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1), TimeProvider.System);
        while ((await client.ListAsync(new ListRequest { Kind = ObjectKind.Replica, Owner = "service/failover" }, cancellationToken: guard.Token)).Items.Count < count)
        {
            await Task.Delay(Poll, TimeProvider.System, guard.Token);
        }
    }

    private static async Task MembersAsync(Cluster.ClusterClient client, int count)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1), TimeProvider.System);
        while ((await client.ListAsync(new ListRequest { Kind = ObjectKind.ControlPlane }, cancellationToken: guard.Token)).Items.Count != count)
        {
            await Task.Delay(Poll, TimeProvider.System, guard.Token);
        }
    }

    /// <summary>Grants <paramref name="count"/> leases of the TTL at once, renews each once, and times each key's deletion after that renewal.</summary>
    private static async Task<Latency> MeasureLeaseExpiryAsync(string etcdEndpoint, int count)
    {
        await using var store = await StateStoreFactory.OpenAsync("etcd://" + etcdEndpoint);
        var latency = new Latency();
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"/bench/leases/{i}");
            var lease = await store.GrantLeaseAsync(Ttl);
            var put = await store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, [], lease.Id)));
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1), TimeProvider.System);
            var renewed = Stopwatch.GetTimestamp();
            await store.KeepAliveAsync(lease.Id);
            await foreach (var change in store.WatchAsync(key, put.Revision + 1, guard.Token))
            {
                if (change.Type == Orchestrator.ControlPlane.Store.WatchEventType.Delete)
                {
                    latency.Record(renewed);
                    break;
                }
            }
        }));
        return latency;
    }
}
