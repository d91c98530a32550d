using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Controllers;

/// <summary>The controller host over a real SQLite store, with a hand-written reconciler and the fake clock.</summary>
public sealed class ControllerHostTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-ctl-host");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly CancellationTokenSource _stop = new();
    private SqliteStateStore? _store;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _stop.Dispose();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private (ControllerHost<string> Host, Task Run) Start(RecordingReconciler reconciler, KeySource source, int workers = 4)
    {
        var options = new ControllerOptions { RetryBaseDelay = TimeSpan.FromSeconds(1), RetryMaxDelay = TimeSpan.FromSeconds(8) };
        var host = new ControllerHost<string>(reconciler, source, Store, _time, options, workers, NullLogger.Instance);
        return (host, Task.Run(() => host.RunAsync(_stop.Token), Ct));
    }

    [Fact]
    public async Task The_first_pass_waits_for_the_initial_list()
    {
        var reconciler = new RecordingReconciler();
        var source = new KeySource(["web"]) { Gate = new TaskCompletionSource() };
        var (host, run) = Start(reconciler, source);
        await Eventually.TrueAsync(() => source.Lists == 1, "the initial list to start", Ct);

        host.Queue.Add("api");
        Assert.Empty(reconciler.Calls);

        source.Gate.SetResult();
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 2, "both keys reconciled", Ct);
        Assert.Equal(["api", "web"], reconciler.Calls.Order(StringComparer.Ordinal));
        await _stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_key_is_never_reconciled_by_two_workers_at_once_and_a_change_meanwhile_gets_one_more_pass()
    {
        var reconciler = new RecordingReconciler { Block = true };
        var (host, run) = Start(reconciler, new KeySource(["web"]), workers: 4);
        await Eventually.TrueAsync(() => reconciler.InFlight == 1, "the first pass to start", Ct);

        host.Queue.Add("web");
        host.Queue.Add("web");
        host.Queue.Add("web");
        reconciler.Release();
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 2 && reconciler.InFlight == 1, "the second pass to start", Ct);
        reconciler.Block = false;
        reconciler.Release();
        await Eventually.TrueAsync(() => reconciler.InFlight == 0, "the second pass to end", Ct);

        Assert.Equal(1, reconciler.MaxInFlight);
        Assert.Equal(2, reconciler.Calls.Count);
        Assert.Equal(0, host.Queue.Count);
        await _stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_failed_pass_is_retried_after_the_backoff_on_the_injected_clock()
    {
        var reconciler = new RecordingReconciler { FailuresLeft = 2 };
        var (host, run) = Start(reconciler, new KeySource(["web"]));
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 1 && host.Queue.Waiting == 1, "the first failure to be scheduled for retry", Ct);

        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Single(reconciler.Calls);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 2 && host.Queue.Waiting == 1, "the second failure to be scheduled for retry", Ct);

        // The second failure in a row waits twice as long.
        _time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal(2, reconciler.Calls.Count);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        // The pass returns before the host forgets the failures: wait for both.
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 3 && reconciler.InFlight == 0 && host.Queue.Failures("web") == 0, "the third pass to succeed and its failures to be forgotten", Ct);
        Assert.Equal(3, reconciler.Calls.Count);
        await _stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_requeue_after_comes_back_when_the_clock_reaches_it()
    {
        var reconciler = new RecordingReconciler { Result = ReconcileResult.After(TimeSpan.FromSeconds(30)) };
        var (host, run) = Start(reconciler, new KeySource(["web"]));
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 1 && host.Queue.Waiting == 1, "the requeue to be scheduled", Ct);

        reconciler.Result = ReconcileResult.Done;
        _time.Advance(TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 2 && reconciler.InFlight == 0, "the second pass", Ct);
        Assert.Equal(0, host.Queue.Waiting);
        await _stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_store_change_enqueues_the_keys_the_source_maps_it_to()
    {
        var reconciler = new RecordingReconciler();
        var (_, run) = Start(reconciler, new KeySource([]));

        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put("/test/items/web", [1])), Ct);

        await Eventually.TrueAsync(() => reconciler.Calls.Contains("web"), "the watched change to be reconciled", Ct);
        await _stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task The_resync_enqueues_every_key_again()
    {
        var reconciler = new RecordingReconciler();
        var source = new KeySource(["web", "api"]);
        var (_, run) = Start(reconciler, source);
        await Eventually.TrueAsync(() => reconciler.Calls.Count == 2 && reconciler.InFlight == 0, "the first passes", Ct);

        _time.Advance(new ControllerOptions().ResyncInterval);

        await Eventually.TrueAsync(() => reconciler.Calls.Count == 4, "the resync passes", Ct);
        Assert.Equal(2, source.Lists);
        await _stop.CancelAsync();
        await run;
    }

    private sealed class KeySource(IReadOnlyCollection<string> keys) : IControllerSource<string>
    {
        private int _lists;

        public TaskCompletionSource? Gate { get; init; }

        public int Lists => Volatile.Read(ref _lists);

        public string WatchPrefix => "/test/";

        public async Task<(IReadOnlyCollection<string> Keys, long Revision)> ListKeysAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _lists);
            if (Gate is not null)
            {
                await Gate.Task.WaitAsync(cancellationToken);
            }

            return (keys, 0);
        }

        public IEnumerable<string> KeysOf(WatchEvent change) => [change.Kv.Key["/test/items/".Length..]];
    }

    /// <summary>Records calls and the most passes in flight at once; can block, fail or requeue on demand.</summary>
    private sealed class RecordingReconciler : IReconciler<string>, IDisposable
    {
        private readonly Lock _lock = new();
        private readonly SemaphoreSlim _gate = new(0);
        private int _inFlight;
        private int _maxInFlight;

        public string Name => "test";

        public ConcurrentQueue<string> Calls { get; } = new();

        public bool Block { get; set; }

        public int FailuresLeft { get; set; }

        public ReconcileResult Result { get; set; } = ReconcileResult.Done;

        public int InFlight => Volatile.Read(ref _inFlight);

        public int MaxInFlight => Volatile.Read(ref _maxInFlight);

        public void Release() => _gate.Release();

        public void Dispose() => _gate.Dispose();

        public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
        {
            lock (_lock)
            {
                _inFlight++;
                _maxInFlight = Math.Max(_maxInFlight, _inFlight);
            }

            Calls.Enqueue(key);
            try
            {
                if (Block)
                {
                    await _gate.WaitAsync(cancellationToken);
                }

                lock (_lock)
                {
                    if (FailuresLeft > 0)
                    {
                        FailuresLeft--;
                        throw new InvalidOperationException("failing on demand");
                    }
                }

                return Result;
            }
            finally
            {
                lock (_lock)
                {
                    _inFlight--;
                }
            }
        }
    }
}
