using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Store;

public sealed class HistoryCompactorTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-compactor");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private SqliteStateStore _store = null!;

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time);

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Each_pass_compacts_to_the_revision_the_previous_pass_saw()
    {
        var compactor = NewCompactor();
        await PutAsync("/t/a", "1");
        await PutAsync("/t/a", "2");

        Assert.Equal(0, await compactor.CompactOnceAsync(TestContext.Current.CancellationToken));
        var seenAtFirstPass = await _store.GetRevisionAsync(TestContext.Current.CancellationToken);
        await PutAsync("/t/a", "3");
        await PutAsync("/t/b", "1");

        Assert.Equal(seenAtFirstPass, await compactor.CompactOnceAsync(TestContext.Current.CancellationToken));

        // History before the first pass is gone; what came after it is still there.
        await Assert.ThrowsAsync<RevisionCompactedException>(() => _store.ListAsync("/t/", 1, 0, TestContext.Current.CancellationToken));
        var events = new List<WatchEvent>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        await foreach (var e in _store.WatchAsync("/t/", seenAtFirstPass + 1, cts.Token))
        {
            events.Add(e);
            if (events.Count == 2)
            {
                break;
            }
        }

        Assert.Equal(["3", "1"], events.Select(e => Encoding.UTF8.GetString(e.Kv.Value)));
        var current = await _store.ListAsync("/t/", 0, 0, TestContext.Current.CancellationToken);
        Assert.Equal(["3", "1"], current.Items.Select(kv => Encoding.UTF8.GetString(kv.Value)));
    }

    [Fact]
    public async Task A_pass_without_new_writes_compacts_nothing_and_does_not_fail()
    {
        var compactor = NewCompactor();
        await PutAsync("/t/a", "1");
        await compactor.CompactOnceAsync(TestContext.Current.CancellationToken);
        await PutAsync("/t/a", "2");
        var last = await _store.GetRevisionAsync(TestContext.Current.CancellationToken);
        Assert.NotEqual(0, await compactor.CompactOnceAsync(TestContext.Current.CancellationToken));
        Assert.Equal(last, await compactor.CompactOnceAsync(TestContext.Current.CancellationToken));

        // Nothing was written since: the target is what was already compacted.
        Assert.Equal(0, await compactor.CompactOnceAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_loop_compacts_on_the_injected_clock()
    {
        var compactor = NewCompactor();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var loop = compactor.RunAsync(cts.Token);
        await PutAsync("/t/a", "1");
        await PutAsync("/t/a", "2");
        var before = await _store.GetRevisionAsync(TestContext.Current.CancellationToken);

        // The first tick only observes; the second compacts to what the first observed.
        _time.Advance(TimeSpan.FromMinutes(5));
        await WaitUntilAsync(async () => (await TryListAtAsync(1)) is false, () => _time.Advance(TimeSpan.FromMinutes(5)));

        Assert.True(await TryListAtAsync(before));
        await cts.CancelAsync();
        await loop;
    }

    private HistoryCompactor NewCompactor() =>
        new(_store, _time, new HistoryCompactorOptions { Interval = TimeSpan.FromMinutes(5) }, NullLogger<HistoryCompactor>.Instance);

    private async Task PutAsync(string key, string value) =>
        await _store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, Encoding.UTF8.GetBytes(value))), TestContext.Current.CancellationToken);

    private async Task<bool> TryListAtAsync(long revision)
    {
        try
        {
            await _store.ListAsync("/t/", revision, 0, TestContext.Current.CancellationToken);
            return true;
        }
        catch (RevisionCompactedException)
        {
            return false;
        }
    }

    /// <summary>Retries a bounded number of times, nudging the fake clock, until the condition holds.</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, Action nudge)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await condition())
            {
                return;
            }

            nudge();
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, TestContext.Current.CancellationToken);
        }

        Assert.Fail("the compactor did not compact within 200 ticks of the fake clock");
    }
}
