using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Store;

/// <summary>What only the embedded store has to prove: durability across a crash and a restart, and its watch plumbing.</summary>
public sealed class SqliteStateStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new("orc-sqlite-store");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private string DbPath => _dir.File("state.db");

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Guard(int seconds = 60)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(seconds));
        return cts.Token;
    }

    private Task<SqliteStateStore> OpenAsync() => SqliteStateStore.OpenAsync(DbPath, _time, cancellationToken: Guard());

    private static byte[] V(string text) => Encoding.UTF8.GetBytes(text);

    private static Task<TxnResult> PutAsync(SqliteStateStore store, string key, string value, long lease = 0) =>
        store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, V(value), lease)), Guard());

    [Fact]
    public async Task Every_acknowledged_write_survives_kill_9_whole_and_the_revision_never_goes_back()
    {
        var helper = Path.Combine(AppContext.BaseDirectory, "Orchestrator.StoreCrashHelper.dll");
        Assert.True(File.Exists(helper), $"the crash helper is built beside the tests: {helper}");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(helper);
        info.ArgumentList.Add(DbPath);

        var acknowledged = new List<(string N, long Revision)>();
        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync(Guard());
        try
        {
            var ct = Guard(120);
            Assert.Equal("ready", await process.StandardOutput.ReadLineAsync(ct));
            while (acknowledged.Count < 300)
            {
                var line = await process.StandardOutput.ReadLineAsync(ct) ?? throw new InvalidOperationException($"the helper stopped early: {await errors}");
                acknowledged.Add(Parse(line));
            }

            // SIGKILL while it is writing: no chance to flush, close or checkpoint anything.
            process.Kill();
            var rest = await process.StandardOutput.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);

            // Lines printed before the kill were acknowledged too; a torn last line is ignored.
            foreach (var line in rest.Split('\n').SkipLast(1))
            {
                acknowledged.Add(Parse(line));
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }

        await using var store = await OpenAsync();
        foreach (var (n, revision) in acknowledged)
        {
            var a = (await store.GetAsync("/crash/a/" + n, cancellationToken: Guard())).Kv;
            var b = (await store.GetAsync("/crash/b/" + n, cancellationToken: Guard())).Kv;
            Assert.True(a is not null && b is not null, $"acknowledged write {n} at revision {revision} was lost");
            Assert.Equal(revision, a.ModRevision);
            Assert.Equal(revision, b.ModRevision);
        }

        Assert.True(await store.GetRevisionAsync(Guard()) >= acknowledged[^1].Revision);
        var aKeys = (await store.ListAsync("/crash/a/", cancellationToken: Guard())).Items.Select(i => i.Key["/crash/a/".Length..]);
        var bKeys = (await store.ListAsync("/crash/b/", cancellationToken: Guard())).Items.Select(i => i.Key["/crash/b/".Length..]);
        Assert.Equal(aKeys, bKeys);
        var next = await PutAsync(store, "/crash/after", "x");
        Assert.True(next.Revision > acknowledged[^1].Revision);

        static (string, long) Parse(string line)
        {
            var parts = line.Split(' ');
            return (parts[0], long.Parse(parts[1], CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public async Task A_watch_resumes_from_an_old_revision_after_a_restart_with_the_exact_events()
    {
        long r2;
        long r3;
        await using (var store = await OpenAsync())
        {
            await PutAsync(store, "/w/a", "1");
            r2 = (await PutAsync(store, "/w/b", "2")).Revision;
            r3 = (await store.TxnAsync(Txn.Unconditional(TxnOp.Put("/w/d", V("4")), TxnOp.Put("/w/c", V("3")), TxnOp.Delete("/w/a")), Guard())).Revision;
        }

        await using var reopened = await OpenAsync();
        var r4 = (await PutAsync(reopened, "/w/b", "5")).Revision;
        var ct = Guard();
        await using var watch = reopened.WatchAsync("/w/", r2, ct).GetAsyncEnumerator(ct);
        var events = new List<WatchEvent>();
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await watch.MoveNextAsync());
            events.Add(watch.Current);
        }

        var live = Task.Run(async () => await watch.MoveNextAsync() ? watch.Current : null, ct);
        var r5 = (await PutAsync(reopened, "/w/e", "6")).Revision;

        Assert.Equal(
            [$"{r2} Put /w/b=2", $"{r3} Delete /w/a=", $"{r3} Put /w/c=3", $"{r3} Put /w/d=4", $"{r4} Put /w/b=5"],
            events.Select(e => $"{e.Revision} {e.Type} {e.Kv.Key}={Encoding.UTF8.GetString(e.Kv.Value)}"));
        Assert.Equal("1", Encoding.UTF8.GetString(events[1].PrevKv!.Value));
        Assert.Equal("2", Encoding.UTF8.GetString(events[4].PrevKv!.Value));
        Assert.Equal(r5, (await live)!.Revision);
    }

    [Fact]
    public async Task After_a_restart_a_lease_gets_its_full_ttl_again_then_expires()
    {
        long leaseId;
        await using (var store = await OpenAsync())
        {
            leaseId = (await store.GrantLeaseAsync(TimeSpan.FromSeconds(10), Guard())).Id;
            await PutAsync(store, "/l/node", "up", leaseId);
            _time.Advance(TimeSpan.FromSeconds(8));
        }

        await using var reopened = await OpenAsync();
        _time.Advance(TimeSpan.FromSeconds(8));
        var stillHeld = (await reopened.GetAsync("/l/node", cancellationToken: Guard())).Kv;
        var from = await reopened.GetRevisionAsync(Guard()) + 1;
        var ct = Guard();
        var deleted = reopened.WatchAsync("/l/", from, ct).GetAsyncEnumerator(ct);
        var next = deleted.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(3));

        Assert.NotNull(stillHeld);
        Assert.Equal(leaseId, stillHeld.Lease);
        Assert.True(await next);
        Assert.Equal(WatchEventType.Delete, deleted.Current.Type);
        Assert.Equal("/l/node", deleted.Current.Kv.Key);
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => reopened.KeepAliveAsync(leaseId, Guard()));
        await deleted.DisposeAsync();
    }

    [Fact]
    public async Task Keep_alives_never_scan_every_lease_and_a_kept_lease_still_outlives_one_that_was_not_kept()
    {
        await using var store = await OpenAsync();
        var leases = new List<long>();
        for (var i = 0; i < 200; i++)
        {
            leases.Add((await store.GrantLeaseAsync(TimeSpan.FromSeconds(3), Guard())).Id);
        }

        await PutAsync(store, "/ka/kept", "x", leases[0]);
        await PutAsync(store, "/ka/dropped", "x", leases[1]);
        var ct = Guard();
        await using var deletes = store.WatchAsync("/ka/", await store.GetRevisionAsync(ct) + 1, ct).GetAsyncEnumerator(ct);
        var firstDelete = deletes.MoveNextAsync().AsTask();
        var scansBefore = store.LeaseScans;

        // Two seconds of heartbeats, every lease but the second renewed each second.
        for (var second = 0; second < 2; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            foreach (var id in leases.Where(id => id != leases[1]))
            {
                await store.KeepAliveAsync(id, Guard());
            }
        }

        Assert.Equal(scansBefore, store.LeaseScans);

        // The second lease's deadline passes: the timer armed at its grant fires, expires it, re-arms once.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await firstDelete);
        Assert.Equal("/ka/dropped", deletes.Current.Kv.Key);
        Assert.NotNull((await store.GetAsync("/ka/kept", cancellationToken: Guard())).Kv);
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => store.KeepAliveAsync(leases[1], Guard()));

        // Without further keep-alives the kept lease goes one TTL after its last renewal.
        var secondDelete = deletes.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await secondDelete);
        Assert.Equal("/ka/kept", deletes.Current.Kv.Key);
    }

    [Fact]
    public async Task A_watcher_that_falls_behind_catches_up_from_the_log_without_losing_or_repeating_an_event()
    {
        await using var store = await OpenAsync();
        var ct = Guard();
        await using var watch = store.WatchAsync("/lag/", 0, ct).GetAsyncEnumerator(ct);
        var first = watch.MoveNextAsync().AsTask();
        var revisions = new List<long>();
        var writes = SqliteStateStore.WatchQueueCapacity + 500;

        for (var i = 0; i < writes; i++)
        {
            revisions.Add((await PutAsync(store, $"/lag/k{i % 3}", i.ToString(CultureInfo.InvariantCulture))).Revision);
        }

        // The watcher read one event and then nothing: its queue overflowed and it left the live feed.
        Assert.Equal(0, store.LiveWatcherCount);
        Assert.True(await first);
        var seen = new List<long> { watch.Current.Revision };
        while (seen.Count < writes)
        {
            Assert.True(await watch.MoveNextAsync());
            seen.Add(watch.Current.Revision);
        }

        Assert.Equal(revisions, seen);
        var live = watch.MoveNextAsync().AsTask();
        var after = await PutAsync(store, "/lag/after", "x");
        Assert.True(await live);
        Assert.Equal(after.Revision, watch.Current.Revision);
        Assert.Equal(1, store.LiveWatcherCount);
    }

    [Fact]
    public async Task A_cancelled_watch_leaves_the_live_feed()
    {
        await using var store = await OpenAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Guard());
        var watch = store.WatchAsync("/c/", 0, cts.Token).GetAsyncEnumerator(cts.Token);
        var pending = watch.MoveNextAsync().AsTask();
        Assert.Equal(1, store.LiveWatcherCount);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await watch.DisposeAsync();
        Assert.Equal(0, store.LiveWatcherCount);
    }

    [Fact]
    public async Task A_second_owner_of_the_same_file_is_refused_until_the_first_closes()
    {
        var first = await OpenAsync();

        var error = await Assert.ThrowsAsync<StateStoreException>(OpenAsync);
        await first.DisposeAsync();
        await using var second = await OpenAsync();

        Assert.Contains("already open in another process", error.Message, StringComparison.Ordinal);
        Assert.Contains("own --store", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_store_file_is_in_WAL_mode()
    {
        await using var store = await OpenAsync();
        await PutAsync(store, "/p/x", "1");

        Assert.True(File.Exists(DbPath + "-wal"), "a WAL file sits beside the database");
        using var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DbPath};Pooling=False");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", cmd.ExecuteScalar() as string);
    }

    [Fact]
    public async Task Opening_a_path_inside_a_file_fails_with_a_message_naming_the_path_and_the_fix()
    {
        var blocker = _dir.File("not-a-dir");
        await File.WriteAllTextAsync(blocker, "x", Guard());

        var error = await Assert.ThrowsAsync<StateStoreException>(() => SqliteStateStore.OpenAsync(Path.Combine(blocker, "state.db"), _time, cancellationToken: Guard()));

        Assert.Contains(blocker, error.Message, StringComparison.Ordinal);
        Assert.Contains("writable directory", error.Message, StringComparison.Ordinal);
    }
}
