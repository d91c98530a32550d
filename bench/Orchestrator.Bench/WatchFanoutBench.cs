using System.Collections.Concurrent;
using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.Bench;

/// <summary>
/// Watch fan-out: N watchers on one prefix; for each commit, the time from the start of the
/// write until the last watcher has the event (commit -> all notified). The baseline is N
/// raw dotnet-etcd watchers on the same etcd.
/// </summary>
internal static class WatchFanoutBench
{
    public static async Task RunAsync(string etcdUrl, string sqlitePath, BenchOptions options, Report report)
    {
        Console.WriteLine($"watch fan-out: {options.Watchers} watchers, {options.WatchCommits} commits");
        var raw = await MeasureRawAsync(etcdUrl, options);
        report.Add(new Row($"watch fan-out x{options.Watchers}", "raw etcd client", double.NaN, raw.P50, raw.P99, "", null, "commit -> all notified"));

        await using (var etcdStore = await StateStoreFactory.OpenAsync($"etcd://{new Uri(etcdUrl).Authority}"))
        {
            var etcd = await MeasureStoreAsync(etcdStore, "/bench/watch-store/", options);
            report.Add(new Row($"watch fan-out x{options.Watchers}", "EtcdStateStore", double.NaN, etcd.P50, etcd.P99, "raw etcd client", raw.P99 / etcd.P99, "ratio of p99 (higher is better)"));
        }

        await using (var sqliteStore = await StateStoreFactory.OpenAsync($"sqlite://{sqlitePath}"))
        {
            var sqlite = await MeasureStoreAsync(sqliteStore, "/bench/watch-sqlite/", options);
            report.Add(new Row($"watch fan-out x{options.Watchers}", "SqliteStateStore", double.NaN, sqlite.P50, sqlite.P99, "raw etcd client", raw.P99 / sqlite.P99, "ratio of p99 (higher is better)"));
        }
    }

    private static async Task<Latency> MeasureStoreAsync(IStateStore store, string prefix, BenchOptions options)
    {
        using var cts = new CancellationTokenSource();
        var tracker = new Tracker(options.Watchers);
        var from = await store.GetRevisionAsync() + 1;
        var watchers = Enumerable.Range(0, options.Watchers).Select(_ => Task.Run(async () =>
        {
            try
            {
                await foreach (var e in store.WatchAsync(prefix, from, cts.Token))
                {
                    tracker.Seen(e.Revision);
                }
            }
            catch (OperationCanceledException)
            {
                // The measurement is over.
            }
        })).ToList();

        var latency = await CommitLoopAsync(
            async i => (await store.TxnAsync(Txn.Unconditional(TxnOp.Put(prefix + "k", BitConverter.GetBytes(i))))).Revision,
            tracker,
            options);
        await cts.CancelAsync();
        await Task.WhenAll(watchers);
        return latency;
    }

    private static async Task<Latency> MeasureRawAsync(string etcdUrl, BenchOptions options)
    {
        var client = new EtcdClient(etcdUrl);
        using var cts = new CancellationTokenSource();
        var tracker = new Tracker(options.Watchers);
        var prefix = "/bench/watch-raw/";
        // One raw etcd watch stream per watcher, as EtcdStateStore opens them.
        var watchClient = client.GetConnection().WatchClient;
        var watches = new List<Task>();
        for (var i = 0; i < options.Watchers; i++)
        {
            watches.Add(Task.Run(async () =>
            {
                using var call = watchClient.Watch(cancellationToken: cts.Token);
                await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = ByteString.CopyFromUtf8("/bench/watch-raw0") } });
                while (await call.ResponseStream.MoveNext(cts.Token))
                {
                    foreach (var e in call.ResponseStream.Current.Events)
                    {
                        tracker.Seen(e.Kv.ModRevision);
                    }
                }
            }));
        }

        // Raw watches are created asynchronously: write a marker until every watcher reports it.
        await tracker.WaitUntilAllWatchingAsync(async () => (await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(prefix + "ready"), Value = ByteString.CopyFromUtf8("1") })).Header.Revision);

        var latency = await CommitLoopAsync(
            async i => (await client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(prefix + "k"), Value = ByteString.CopyFrom(BitConverter.GetBytes(i)) })).Header.Revision,
            tracker,
            options);
        await cts.CancelAsync();
        try
        {
            await Task.WhenAll(watches).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or Grpc.Core.RpcException)
        {
            // Cancelled watch streams end with one of these; the measurement is over.
        }

        return latency;
    }

    /// <summary>Closed loop: one commit at a time, the next after every watcher has the previous one.</summary>
    private static async Task<Latency> CommitLoopAsync(Func<int, Task<long>> commit, Tracker tracker, BenchOptions options)
    {
        var latency = new Latency();
        for (var i = 0; i < options.WatchCommits; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var waiter = Tracker.Expect(start);
            var revision = await commit(i);
            tracker.Bind(revision, waiter);
            var ticks = await waiter.Task.WaitAsync(TimeSpan.FromSeconds(30));
            latency.RecordTicks(ticks);
        }

        return latency;
    }

    /// <summary>Counts, per revision, how many watchers have seen it; completes when all have.</summary>
    private sealed class Tracker(int watchers)
    {
        private readonly ConcurrentDictionary<long, int> _counts = new();
        private readonly ConcurrentDictionary<long, Pending> _pending = new();

        public sealed class Pending(long start)
        {
            public long Start { get; } = start;

            public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public Task<long> Task => Completion.Task;
        }

        public static Pending Expect(long start) => new(start);

        /// <summary>Associates the pending commit with its revision (events may already have arrived).</summary>
        public void Bind(long revision, Pending pending)
        {
            _pending[revision] = pending;
            if (_counts.TryGetValue(revision, out var n) && n >= watchers)
            {
                Complete(revision);
            }
        }

        public void Seen(long revision)
        {
            var n = _counts.AddOrUpdate(revision, 1, (_, c) => c + 1);
            if (n == watchers)
            {
                Complete(revision);
            }
        }

        private void Complete(long revision)
        {
            if (_pending.TryRemove(revision, out var p))
            {
                p.Completion.TrySetResult(Stopwatch.GetTimestamp() - p.Start);
            }
        }

        public async Task WaitUntilAllWatchingAsync(Func<Task<long>> writeMarker)
        {
            for (var attempt = 0; attempt < 100; attempt++)
            {
                var waiter = Expect(Stopwatch.GetTimestamp());
                var revision = await writeMarker();
                Bind(revision, waiter);
                if (await Task.WhenAny(waiter.Task, Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System)) == waiter.Task)
                {
                    return;
                }

                _pending.TryRemove(revision, out _);
            }

            throw new TimeoutException("raw etcd watchers did not all start");
        }
    }
}
