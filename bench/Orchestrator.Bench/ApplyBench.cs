using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.V1;

namespace Orchestrator.Bench;

/// <summary>
/// <c>orc apply</c> round trips through gRPC: N concurrent clients, each re-applying its own
/// service with a changed replica count (so every apply validates, diffs and writes one
/// CAS transaction). Baseline: the same number of concurrent raw etcd CAS transactions.
/// </summary>
internal static class ApplyBench
{
    public static async Task RunAsync(string etcdUrl, string sqlitePath, BenchOptions options, Report report)
    {
        Console.WriteLine($"apply: {options.ApplyOps} applies from {options.Concurrency} concurrent gRPC clients");
        var raw = await MeasureRawTxnAsync(etcdUrl, options);
        report.Add(new Row($"apply, {options.Concurrency} clients", "raw etcd CAS txn", raw.Ops, raw.Latency.P50, raw.Latency.P99, "", null, "the store work an apply needs, no API"));

        var onEtcd = await MeasureApplyAsync($"etcd://{new Uri(etcdUrl).Authority}", options);
        report.Add(new Row($"apply, {options.Concurrency} clients", "orc apply on etcd", onEtcd.Ops, onEtcd.Latency.P50, onEtcd.Latency.P99, "raw etcd CAS txn", onEtcd.Ops / raw.Ops, "goal p99 <= 10 ms"));

        var onSqlite = await MeasureApplyAsync($"sqlite://{sqlitePath}", options);
        report.Add(new Row($"apply, {options.Concurrency} clients", "orc apply on SQLite", onSqlite.Ops, onSqlite.Latency.P50, onSqlite.Latency.P99, "raw etcd CAS txn", onSqlite.Ops / raw.Ops));
    }

    private sealed record Result(double Ops, Latency Latency);

    private static async Task<Result> MeasureApplyAsync(string store, BenchOptions options)
    {
        var app = await ControlPlaneApp.BuildAsync(
            new ControlPlaneOptions { Listen = "127.0.0.1:0", HttpListen = "127.0.0.1:0", Store = store },
            configure: b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        try
        {
            var url = app.Endpoints().GrpcUrl;
            var channels = Enumerable.Range(0, options.Concurrency).Select(_ => GrpcChannel.ForAddress(url)).ToList();
            try
            {
                var clients = channels.Select(c => new V1.Cluster.ClusterClient(c)).ToList();
                await RunClientsAsync(clients, 20, new Latency()); // warm-up
                var latency = new Latency();
                var ops = await RunClientsAsync(clients, options.ApplyOps / options.Concurrency, latency);
                return new Result(ops, latency);
            }
            finally
            {
                foreach (var channel in channels)
                {
                    channel.Dispose();
                }
            }
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task<double> RunClientsAsync(List<V1.Cluster.ClusterClient> clients, int perClient, Latency latency)
    {
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(clients.Select((client, c) => Task.Run(async () =>
        {
            for (var i = 0; i < perClient; i++)
            {
                var spec = $$"""
                    kind: Service
                    name: bench-{{c}}
                    replicas: {{1 + (i % 2)}}
                    driver: process
                    command: ["sleep", "3600"]
                    resources: { cpu: 100m, memory: 64Mi }
                    """;
                var t = Stopwatch.GetTimestamp();
                await client.ApplyAsync(new ApplyRequest { SourceName = "bench.yaml", Content = spec });
                latency.Record(t);
            }
        })));
        return perClient * clients.Count / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static async Task<Result> MeasureRawTxnAsync(string etcdUrl, BenchOptions options)
    {
        var client = new EtcdClient(etcdUrl);
        var perClient = options.ApplyOps / options.Concurrency;
        var latency = new Latency();
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(c => Task.Run(async () =>
        {
            var key = ByteString.CopyFromUtf8($"/bench/apply-raw/{c}");
            var value = ByteString.CopyFrom(new byte[400]);
            long mod = (await client.PutAsync(new PutRequest { Key = key, Value = value })).Header.Revision;
            for (var i = 0; i < perClient; i++)
            {
                var t = Stopwatch.GetTimestamp();
                var txn = new TxnRequest();
                txn.Compare.Add(new Etcdserverpb.Compare { Key = key, Target = Etcdserverpb.Compare.Types.CompareTarget.Mod, Result = Etcdserverpb.Compare.Types.CompareResult.Equal, ModRevision = mod });
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = value } });
                mod = (await client.TransactionAsync(txn)).Header.Revision;
                latency.Record(t);
            }
        })));
        return new Result(perClient * options.Concurrency / Stopwatch.GetElapsedTime(start).TotalSeconds, latency);
    }
}
