using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.Bench;

/// <summary>
/// Store write throughput and latency: the raw dotnet-etcd client (baseline) against
/// <see cref="EtcdStateStore"/> on the same etcd, and <see cref="SqliteStateStore"/> on disk.
/// Two operations: a plain put, and a compare-and-swap put (how the control plane writes).
/// </summary>
internal static class StoreBench
{
    private static readonly byte[] Value = new byte[256];

    public static async Task RunAsync(string etcdUrl, string sqlitePath, BenchOptions options, Report report)
    {
        Console.WriteLine($"store: {options.StoreOps} sequential ops, then {options.StoreOps * 4} ops from {options.Concurrency} concurrent writers");
        Random.Shared.NextBytes(Value);

        var raw = new EtcdClient(etcdUrl);
        await using var etcdStore = await StateStoreFactory.OpenAsync($"etcd://{new Uri(etcdUrl).Authority}");
        await using var sqliteStore = await StateStoreFactory.OpenAsync($"sqlite://{sqlitePath}");

        foreach (var (op, cas) in new[] { ("put", false), ("cas put", true) })
        {
            var (rawSeq, rawPar) = await MeasureAsync(new RawEtcdWriter(raw, $"/bench/raw-{op}/"), cas, options);
            report.Add(new Row($"store {op}, 1 writer", "raw etcd client", rawSeq.Ops, rawSeq.Latency.P50, rawSeq.Latency.P99, "", null));
            var (etcdSeq, etcdPar) = await MeasureAsync(new StoreWriter(etcdStore, $"/bench/store-{op}/"), cas, options);
            report.Add(new Row($"store {op}, 1 writer", "EtcdStateStore", etcdSeq.Ops, etcdSeq.Latency.P50, etcdSeq.Latency.P99, "raw etcd client", etcdSeq.Ops / rawSeq.Ops));
            var (sqlSeq, sqlPar) = await MeasureAsync(new StoreWriter(sqliteStore, $"/bench/sqlite-{op}/"), cas, options);
            report.Add(new Row($"store {op}, 1 writer", "SqliteStateStore", sqlSeq.Ops, sqlSeq.Latency.P50, sqlSeq.Latency.P99, "raw etcd client", sqlSeq.Ops / rawSeq.Ops, "embedded, fsync per commit"));

            var concurrent = $"store {op}, {options.Concurrency} writers";
            report.Add(new Row(concurrent, "raw etcd client", rawPar.Ops, rawPar.Latency.P50, rawPar.Latency.P99, "", null));
            report.Add(new Row(concurrent, "EtcdStateStore", etcdPar.Ops, etcdPar.Latency.P50, etcdPar.Latency.P99, "raw etcd client", etcdPar.Ops / rawPar.Ops));
            report.Add(new Row(concurrent, "SqliteStateStore", sqlPar.Ops, sqlPar.Latency.P50, sqlPar.Latency.P99, "raw etcd client", sqlPar.Ops / rawPar.Ops, "embedded, fsync per commit"));
        }
    }

    private sealed record Result(double Ops, Latency Latency);

    private static async Task<(Result Sequential, Result Concurrent)> MeasureAsync(IWriter writer, bool cas, BenchOptions options)
    {
        // Warm-up: connections, JIT, SQLite pages.
        await RunWritersAsync(writer, cas, 1, 50, new Latency());

        var seq = new Latency();
        var seqOps = await RunWritersAsync(writer, cas, 1, options.StoreOps, seq);
        var par = new Latency();
        var parOps = await RunWritersAsync(writer, cas, options.Concurrency, options.StoreOps * 4, par);
        return (new Result(seqOps, seq), new Result(parOps, par));
    }

    private static async Task<double> RunWritersAsync(IWriter writer, bool cas, int writers, int totalOps, Latency latency)
    {
        var perWriter = totalOps / writers;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var key = $"k{w:D3}";
            long modRevision = 0;
            if (cas)
            {
                modRevision = await writer.PutAsync(key, Value);
            }

            for (var i = 0; i < perWriter; i++)
            {
                var t = Stopwatch.GetTimestamp();
                modRevision = cas ? await writer.CasPutAsync(key, Value, modRevision) : await writer.PutAsync(key, Value);
                latency.Record(t);
            }
        })));
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return perWriter * writers / seconds;
    }

    private interface IWriter
    {
        Task<long> PutAsync(string key, byte[] value);

        /// <summary>Puts if the key's mod revision is still <paramref name="expected"/>; returns the new mod revision.</summary>
        Task<long> CasPutAsync(string key, byte[] value, long expected);
    }

    private sealed class RawEtcdWriter(EtcdClient client, string prefix) : IWriter
    {
        public async Task<long> PutAsync(string key, byte[] value)
        {
            var response = await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(prefix + key), Value = ByteString.CopyFrom(value) });
            return response.Header.Revision;
        }

        public async Task<long> CasPutAsync(string key, byte[] value, long expected)
        {
            var k = ByteString.CopyFromUtf8(prefix + key);
            var txn = new TxnRequest();
            txn.Compare.Add(new Etcdserverpb.Compare { Key = k, Target = Etcdserverpb.Compare.Types.CompareTarget.Mod, Result = Etcdserverpb.Compare.Types.CompareResult.Equal, ModRevision = expected });
            txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = k, Value = ByteString.CopyFrom(value) } });
            var response = await client.TransactionAsync(txn);
            return response.Succeeded ? response.Header.Revision : throw new InvalidOperationException("CAS conflict in a single-writer key");
        }
    }

    private sealed class StoreWriter(IStateStore store, string prefix) : IWriter
    {
        public async Task<long> PutAsync(string key, byte[] value) =>
            (await store.TxnAsync(Txn.Unconditional(TxnOp.Put(prefix + key, value)))).Revision;

        public async Task<long> CasPutAsync(string key, byte[] value, long expected)
        {
            var result = await store.TxnAsync(new Txn([ControlPlane.Store.Compare.ModRevision(prefix + key, expected)], [TxnOp.Put(prefix + key, value)], []));
            return result.Succeeded ? result.Revision : throw new InvalidOperationException("CAS conflict in a single-writer key");
        }
    }
}
