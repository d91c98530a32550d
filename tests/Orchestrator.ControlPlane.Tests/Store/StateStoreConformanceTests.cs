using System.Collections.Concurrent;
using System.Text;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Tests.Store;

/// <summary>
/// The contract of <see cref="IStateStore"/>, run against every implementation. Each test
/// works under a key prefix of its own, so stores shared between tests (one etcd per class)
/// keep tests independent; revisions are only ever compared relative to each other.
/// </summary>
public abstract class StateStoreConformanceTests : IAsyncLifetime
{
    private IStateStore? _store;

    protected IStateStore Store => _store ?? throw new InvalidOperationException("the store is opened in InitializeAsync");

    /// <summary>A prefix no other test uses.</summary>
    protected string Prefix { get; } = $"/conformance/{Guid.NewGuid():N}/";

    /// <summary>The TTL the lease tests ask for.</summary>
    protected abstract TimeSpan LeaseTtl { get; }

    /// <summary>Hang guard for waits on the store: a failing test fails instead of hanging; never a pass/fail threshold.</summary>
    protected static CancellationToken Guard(int seconds = 60)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(seconds));
        return cts.Token;
    }

    protected abstract Task<IStateStore> OpenStoreAsync();

    /// <summary>Lets <paramref name="duration"/> pass on the store's clock.</summary>
    protected abstract Task PassTimeAsync(TimeSpan duration);

    public virtual async ValueTask InitializeAsync() => _store = await OpenStoreAsync();

    public virtual async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    protected string K(string name) => Prefix + name;

    protected static byte[] V(string text) => Encoding.UTF8.GetBytes(text);

    protected static string S(byte[] value) => Encoding.UTF8.GetString(value);

    protected Task<TxnResult> PutAsync(string key, string value, long lease = 0) =>
        Store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, V(value), lease)), Guard());

    protected Task<TxnResult> DeleteAsync(string key) => Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(key)), Guard());

    protected static async Task<List<WatchEvent>> TakeAsync(IAsyncEnumerable<WatchEvent> watch, int count, CancellationToken cancellationToken)
    {
        var events = new List<WatchEvent>(count);
        if (count == 0)
        {
            return events;
        }

        await foreach (var e in watch.WithCancellation(cancellationToken))
        {
            events.Add(e);
            if (events.Count == count)
            {
                break;
            }
        }

        return events;
    }

    [Fact]
    public async Task A_put_is_read_back_with_its_create_and_mod_revision_and_version_1()
    {
        var put = await PutAsync(K("a"), "one");

        var got = await Store.GetAsync(K("a"), cancellationToken: Guard());

        Assert.True(put.Succeeded);
        Assert.NotNull(got.Kv);
        Assert.Equal("one", S(got.Kv.Value));
        Assert.Equal(put.Revision, got.Kv.CreateRevision);
        Assert.Equal(put.Revision, got.Kv.ModRevision);
        Assert.Equal(1, got.Kv.Version);
        Assert.Equal(0, got.Kv.Lease);
        Assert.Equal(put.Revision, got.Revision);
        Assert.Equal(put.Revision, await Store.GetRevisionAsync(Guard()));
    }

    [Fact]
    public async Task A_second_put_keeps_the_create_revision_and_advances_mod_revision_and_version()
    {
        var first = await PutAsync(K("a"), "one");
        var second = await PutAsync(K("a"), "two");

        var got = (await Store.GetAsync(K("a"), cancellationToken: Guard())).Kv!;

        Assert.True(second.Revision > first.Revision);
        Assert.Equal("two", S(got.Value));
        Assert.Equal(first.Revision, got.CreateRevision);
        Assert.Equal(second.Revision, got.ModRevision);
        Assert.Equal(2, got.Version);
    }

    [Fact]
    public async Task A_key_put_again_after_a_delete_starts_a_new_life_at_version_1()
    {
        await PutAsync(K("a"), "one");
        var delete = await DeleteAsync(K("a"));
        var again = await PutAsync(K("a"), "two");

        var got = (await Store.GetAsync(K("a"), cancellationToken: Guard())).Kv!;

        Assert.Equal(1, delete.Results[0].Deleted);
        Assert.Equal(again.Revision, got.CreateRevision);
        Assert.Equal(1, got.Version);
    }

    [Fact]
    public async Task Reading_an_absent_key_returns_no_value_and_deleting_it_writes_nothing()
    {
        var before = await Store.GetRevisionAsync(Guard());

        var got = await Store.GetAsync(K("missing"), cancellationToken: Guard());
        var delete = await DeleteAsync(K("missing"));

        Assert.Null(got.Kv);
        Assert.Equal(0, delete.Results[0].Deleted);
        Assert.Equal(before, delete.Revision);
        Assert.Equal(before, await Store.GetRevisionAsync(Guard()));
    }

    [Fact]
    public async Task A_compare_and_swap_with_a_stale_mod_revision_fails_and_changes_nothing()
    {
        var first = await PutAsync(K("a"), "one");
        var second = await PutAsync(K("a"), "two");

        var stale = await Store.TxnAsync(new Txn([Compare.ModRevision(K("a"), first.Revision)], [TxnOp.Put(K("a"), V("three"))], []), Guard());
        var fresh = await Store.TxnAsync(new Txn([Compare.ModRevision(K("a"), second.Revision)], [TxnOp.Put(K("a"), V("four"))], []), Guard());

        Assert.False(stale.Succeeded);
        Assert.Equal(second.Revision, stale.Revision);
        Assert.True(fresh.Succeeded);
        Assert.Equal("four", S((await Store.GetAsync(K("a"), cancellationToken: Guard())).Kv!.Value));
        Assert.Equal(2, (await Store.ListAsync(Prefix, atRevision: second.Revision, cancellationToken: Guard())).Items[0].Version);
    }

    [Fact]
    public async Task An_absent_compare_holds_only_while_the_key_does_not_exist()
    {
        var create = Txn.Unconditional() with { If = [Compare.Absent(K("a"))], Then = [TxnOp.Put(K("a"), V("mine"))] };

        var first = await Store.TxnAsync(create, Guard());
        var second = await Store.TxnAsync(create with { Then = [TxnOp.Put(K("a"), V("theirs"))] }, Guard());

        Assert.True(first.Succeeded);
        Assert.False(second.Succeeded);
        Assert.Equal("mine", S((await Store.GetAsync(K("a"), cancellationToken: Guard())).Kv!.Value));
    }

    [Fact]
    public async Task A_value_compare_holds_only_for_an_existing_key_with_that_exact_value()
    {
        await PutAsync(K("a"), "one");

        var wrong = await Store.TxnAsync(new Txn([Compare.ValueEquals(K("a"), V("two"))], [TxnOp.Put(K("b"), V("x"))], []), Guard());
        var absent = await Store.TxnAsync(new Txn([Compare.ValueEquals(K("missing"), [])], [TxnOp.Put(K("b"), V("x"))], []), Guard());
        var right = await Store.TxnAsync(new Txn([Compare.ValueEquals(K("a"), V("one"))], [TxnOp.Put(K("b"), V("y"))], []), Guard());

        Assert.False(wrong.Succeeded);
        Assert.False(absent.Succeeded);
        Assert.True(right.Succeeded);
        Assert.Equal("y", S((await Store.GetAsync(K("b"), cancellationToken: Guard())).Kv!.Value));
    }

    [Fact]
    public async Task A_multi_key_transaction_writes_every_key_at_one_revision()
    {
        var result = await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("a"), V("1")), TxnOp.Put(K("b"), V("2")), TxnOp.Put(K("c"), V("3"))), Guard());

        var list = await Store.ListAsync(Prefix, cancellationToken: Guard());

        Assert.True(result.Succeeded);
        Assert.Equal(3, result.Results.Count);
        Assert.Equal([K("a"), K("b"), K("c")], list.Items.Select(i => i.Key));
        Assert.All(list.Items, i => Assert.Equal(result.Revision, i.ModRevision));
    }

    [Fact]
    public async Task A_failed_guard_writes_nothing_and_runs_the_else_branch_reads()
    {
        var existing = await PutAsync(K("a"), "one");
        var txn = new Txn(
            [Compare.ModRevision(K("a"), existing.Revision + 1000), Compare.Absent(K("b"))],
            [TxnOp.Put(K("b"), V("2")), TxnOp.Put(K("c"), V("3")), TxnOp.Delete(K("a"))],
            [TxnOp.Get(K("a")), TxnOp.Get(K("missing"))]);

        var result = await Store.TxnAsync(txn, Guard());

        Assert.False(result.Succeeded);
        Assert.Equal(existing.Revision, result.Revision);
        Assert.Equal(2, result.Results.Count);
        Assert.Equal("one", S(result.Results[0].Kv!.Value));
        Assert.Equal(existing.Revision, result.Results[0].Kv!.ModRevision);
        Assert.Null(result.Results[1].Kv);
        Assert.Equal([K("a")], (await Store.ListAsync(Prefix, cancellationToken: Guard())).Items.Select(i => i.Key));
    }

    [Fact]
    public async Task A_transaction_that_puts_with_an_unknown_lease_fails_and_writes_nothing()
    {
        var before = await PutAsync(K("a"), "one");

        await Assert.ThrowsAsync<LeaseNotFoundException>(() =>
            Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("b"), V("x")), TxnOp.Put(K("c"), V("y"), lease: 987654321)), Guard()));

        Assert.Equal([K("a")], (await Store.ListAsync(Prefix, cancellationToken: Guard())).Items.Select(i => i.Key));
        Assert.Equal(before.Revision, (await Store.GetAsync(K("a"), cancellationToken: Guard())).Kv!.ModRevision);
    }

    [Fact]
    public async Task A_transaction_that_puts_one_key_twice_is_refused_and_writes_nothing()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("a"), V("1")), TxnOp.Put(K("a"), V("2"))), Guard()));

        Assert.Contains("twice", error.Message, StringComparison.Ordinal);
        Assert.Empty((await Store.ListAsync(Prefix, cancellationToken: Guard())).Items);
    }

    [Fact]
    public async Task An_empty_key_is_refused_with_a_message_that_says_why()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Store.GetAsync("", cancellationToken: Guard()));

        Assert.Contains("must not be empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_prefix_removes_every_key_under_the_prefix_and_no_other()
    {
        await Store.TxnAsync(Txn.Unconditional(
            TxnOp.Put(K("web/1"), V("a")), TxnOp.Put(K("web/2"), V("b")), TxnOp.Put(K("web2/1"), V("c")), TxnOp.Put(K("web"), V("d"))), Guard());

        var result = await Store.TxnAsync(Txn.Unconditional(TxnOp.DeletePrefix(K("web/"))), Guard());

        Assert.Equal(2, result.Results[0].Deleted);
        Assert.Equal([K("web"), K("web2/1")], (await Store.ListAsync(Prefix, cancellationToken: Guard())).Items.Select(i => i.Key));
    }

    [Fact]
    public async Task Listing_a_prefix_never_returns_keys_of_a_longer_sibling()
    {
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("web/a"), V("1")), TxnOp.Put(K("web2/a"), V("2")), TxnOp.Put(K("web0"), V("3"))), Guard());

        var web = await Store.ListAsync(K("web/"), cancellationToken: Guard());

        Assert.Equal([K("web/a")], web.Items.Select(i => i.Key));
    }

    [Fact]
    public async Task A_list_at_a_past_revision_sees_the_old_values_and_the_keys_absent_then()
    {
        var r1 = await PutAsync(K("a"), "a1");
        var r2 = await PutAsync(K("b"), "b1");
        await PutAsync(K("a"), "a2");
        await DeleteAsync(K("b"));
        await PutAsync(K("c"), "c1");

        var atR1 = await Store.ListAsync(Prefix, r1.Revision, cancellationToken: Guard());
        var atR2 = await Store.ListAsync(Prefix, r2.Revision, cancellationToken: Guard());
        var now = await Store.ListAsync(Prefix, cancellationToken: Guard());
        var oldA = await Store.GetAsync(K("a"), r2.Revision, Guard());

        Assert.Equal(["a=a1"], atR1.Items.Select(i => $"{i.Key[Prefix.Length..]}={S(i.Value)}"));
        Assert.Equal(r1.Revision, atR1.Revision);
        Assert.Equal(["a=a1", "b=b1"], atR2.Items.Select(i => $"{i.Key[Prefix.Length..]}={S(i.Value)}"));
        Assert.Equal(["a=a2", "c=c1"], now.Items.Select(i => $"{i.Key[Prefix.Length..]}={S(i.Value)}"));
        Assert.Equal("a1", S(oldA.Kv!.Value));
    }

    [Fact]
    public async Task A_list_with_a_limit_returns_the_first_keys_in_order_and_says_there_are_more()
    {
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("c"), V("3")), TxnOp.Put(K("a"), V("1")), TxnOp.Put(K("b"), V("2"))), Guard());

        var two = await Store.ListAsync(Prefix, limit: 2, cancellationToken: Guard());
        var three = await Store.ListAsync(Prefix, limit: 3, cancellationToken: Guard());

        Assert.Equal([K("a"), K("b")], two.Items.Select(i => i.Key));
        Assert.True(two.More);
        Assert.Equal(3, three.Items.Count);
        Assert.False(three.More);
    }

    [Fact]
    public async Task Reading_at_a_future_revision_throws_FutureRevisionException()
    {
        var current = await Store.GetRevisionAsync(Guard());

        var error = await Assert.ThrowsAsync<FutureRevisionException>(() => Store.ListAsync(Prefix, current + 1000, cancellationToken: Guard()));

        Assert.Equal(current + 1000, error.Requested);
        Assert.Contains("future", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_watch_from_a_past_revision_delivers_every_write_of_four_racing_writers_once_and_in_revision_order()
    {
        const int writers = 4;
        const int writesPerWriter = 750;
        var start = await Store.GetRevisionAsync(Guard()) + 1;
        var acknowledged = new ConcurrentBag<(long Revision, string Key, string Value)>();
        var someWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ct = Guard(120);

        var writing = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < writesPerWriter; i++)
            {
                var key = K($"w{w}/k{i % 7}");
                var value = $"{w}-{i}";
                var result = await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(key, V(value))), ct);
                acknowledged.Add((result.Revision, key, value));
                if (i == writesPerWriter / 5)
                {
                    someWritten.TrySetResult();
                }
            }
        })).ToList();

        // Start watching once history exists, so the watch crosses from catch-up to live while writers run.
        await someWritten.Task.WaitAsync(ct);
        var events = await TakeAsync(Store.WatchAsync(Prefix, start, ct), writers * writesPerWriter, ct);
        await Task.WhenAll(writing);

        var expected = acknowledged.OrderBy(a => a.Revision).Select(a => $"{a.Revision} {a.Key} {a.Value}").ToList();
        Assert.Equal(expected, events.Select(e => $"{e.Revision} {e.Kv.Key} {S(e.Kv.Value)}").ToList());
        Assert.All(events, e => Assert.Equal(WatchEventType.Put, e.Type));
    }

    [Fact]
    public async Task A_transactions_events_arrive_together_at_one_revision_in_key_order_with_previous_values()
    {
        await PutAsync(K("b"), "old-b");
        await PutAsync(K("x"), "old-x");
        var from = await Store.GetRevisionAsync(Guard()) + 1;

        var txn = await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("c"), V("3")), TxnOp.Put(K("a"), V("1")), TxnOp.Delete(K("x")), TxnOp.Put(K("b"), V("2"))), Guard());
        var after = await PutAsync(K("d"), "4");
        var events = await TakeAsync(Store.WatchWithPreviousAsync(Prefix, from, Guard()), 5, Guard());

        Assert.Equal(
            [$"{txn.Revision} Put a", $"{txn.Revision} Put b", $"{txn.Revision} Put c", $"{txn.Revision} Delete x", $"{after.Revision} Put d"],
            events.Select(e => $"{e.Revision} {e.Type} {e.Kv.Key[Prefix.Length..]}"));
        Assert.Null(events[0].PrevKv);
        Assert.Equal("old-b", S(events[1].PrevKv!.Value));
        Assert.Equal("old-x", S(events[3].PrevKv!.Value));
        Assert.Empty(events[3].Kv.Value);
    }

    [Fact]
    public async Task A_watch_from_now_sees_only_later_changes_under_its_prefix()
    {
        var before = await PutAsync(K("a/before"), "0");
        var ct = Guard();
        await using var watch = Store.WatchAsync(K("a/"), 0, ct).GetAsyncEnumerator(ct);
        var next = watch.MoveNextAsync().AsTask();

        // "Now" is when the store has set the watch up, which the caller cannot observe: keep
        // writing until the watch sees a change. Whatever it sees first must be one of these.
        await PutAsync(K("b/other"), "x");
        var written = new Dictionary<string, long>();
        for (var i = 0; !next.IsCompleted; i++)
        {
            written[K($"a/after-{i}")] = (await PutAsync(K($"a/after-{i}"), "1")).Revision;
            await Task.WhenAny(next, Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, ct));
        }

        Assert.True(await next);
        Assert.True(written.TryGetValue(watch.Current.Kv.Key, out var revision), $"the watch saw {watch.Current.Kv.Key}");
        Assert.Equal(revision, watch.Current.Revision);
        Assert.True(watch.Current.Revision > before.Revision);
    }

    [Fact]
    public async Task Cancelling_a_watch_ends_its_enumeration_and_the_store_carries_on()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Guard());
        var watch = Store.WatchAsync(Prefix, 0, cts.Token).GetAsyncEnumerator(cts.Token);
        var pending = watch.MoveNextAsync().AsTask();

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Guard()));
        await watch.DisposeAsync();
        var put = await PutAsync(K("after"), "1");
        var events = await TakeAsync(Store.WatchAsync(Prefix, put.Revision, Guard()), 1, Guard());
        Assert.Equal(put.Revision, events[0].Revision);
    }

    [Fact]
    public async Task Closing_the_store_ends_its_watches()
    {
        var ct = Guard();

        // From an explicit revision: a watch "from now" may be registered after the put below.
        var from = await Store.GetRevisionAsync(ct) + 1;
        var watch = Store.WatchAsync(Prefix, from, ct).GetAsyncEnumerator(ct);
        var pending = watch.MoveNextAsync().AsTask();
        await PutAsync(K("seen"), "1");
        Assert.True(await pending.WaitAsync(ct));
        var next = watch.MoveNextAsync().AsTask();

        await Store.DisposeAsync();

        Assert.False(await next.WaitAsync(ct));
        await watch.DisposeAsync();
    }

    [Fact]
    public async Task An_expired_lease_deletes_its_keys_and_watchers_see_the_deletes()
    {
        var lease = await Store.GrantLeaseAsync(LeaseTtl, Guard());
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("live/1"), V("a"), lease.Id), TxnOp.Put(K("live/2"), V("b"), lease.Id), TxnOp.Put(K("keep"), V("c"))), Guard());
        var from = await Store.GetRevisionAsync(Guard()) + 1;

        var ct = Guard();
        var deletes = TakeAsync(Store.WatchAsync(Prefix, from, ct), 2, ct);
        await PassTimeAsync(lease.Ttl + TimeSpan.FromSeconds(1));
        var events = await deletes;

        Assert.All(events, e => Assert.Equal(WatchEventType.Delete, e.Type));
        Assert.Equal([K("live/1"), K("live/2")], events.Select(e => e.Kv.Key));
        Assert.Equal(events[0].Revision, events[1].Revision);
        Assert.Equal([K("keep")], (await Store.ListAsync(Prefix, cancellationToken: Guard())).Items.Select(i => i.Key));
        Assert.Equal(lease.Id, (await Store.GetAsync(K("live/1"), events[0].Revision - 1, Guard())).Kv!.Lease);
    }

    [Fact]
    public async Task Keep_alive_renews_a_lease_to_its_full_ttl()
    {
        var lease = await Store.GrantLeaseAsync(LeaseTtl, Guard());
        await PutAsync(K("held"), "x", lease.Id);

        // Six renewals a quarter TTL apart hold the key for one and a half TTLs.
        var renewals = new List<Lease>();
        for (var i = 0; i < 6; i++)
        {
            await PassTimeAsync(lease.Ttl * 0.25);
            renewals.Add(await Store.KeepAliveAsync(lease.Id, Guard()));
        }

        Assert.All(renewals, r => Assert.Equal(lease.Id, r.Id));
        Assert.All(renewals, r => Assert.True(r.Ttl > TimeSpan.Zero));
        var held = (await Store.GetAsync(K("held"), cancellationToken: Guard())).Kv;
        Assert.NotNull(held);
        Assert.Equal(lease.Id, held.Lease);
        await Store.RevokeLeaseAsync(lease.Id, Guard());
    }

    [Fact]
    public async Task Revoking_a_lease_deletes_its_keys_in_one_revision()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromMinutes(5), Guard());
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(K("a"), V("1"), lease.Id), TxnOp.Put(K("b"), V("2"), lease.Id)), Guard());
        var from = await Store.GetRevisionAsync(Guard()) + 1;

        await Store.RevokeLeaseAsync(lease.Id, Guard());
        var events = await TakeAsync(Store.WatchAsync(Prefix, from, Guard()), 2, Guard());

        Assert.Equal(["Delete a", "Delete b"], events.Select(e => $"{e.Type} {e.Kv.Key[Prefix.Length..]}"));
        Assert.Equal(events[0].Revision, events[1].Revision);
        Assert.Equal(from, events[0].Revision);
        Assert.Empty((await Store.ListAsync(Prefix, cancellationToken: Guard())).Items);
        await Store.RevokeLeaseAsync(lease.Id, Guard());
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => Store.KeepAliveAsync(lease.Id, Guard()));
    }

    [Fact]
    public async Task Keep_alive_of_an_expired_lease_throws_LeaseNotFoundException()
    {
        var lease = await Store.GrantLeaseAsync(LeaseTtl, Guard());
        await PutAsync(K("gone"), "x", lease.Id);
        var from = await Store.GetRevisionAsync(Guard()) + 1;
        var ct = Guard();
        var deleted = TakeAsync(Store.WatchAsync(Prefix, from, ct), 1, ct);

        await PassTimeAsync(lease.Ttl + TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => Store.KeepAliveAsync(lease.Id, Guard()));

        Assert.Equal(lease.Id, error.LeaseId);
        Assert.Contains("grant a new lease", error.Message, StringComparison.Ordinal);
        Assert.Equal(WatchEventType.Delete, (await deleted)[0].Type);
    }

    [Fact]
    public async Task Compaction_keeps_current_values_and_makes_older_reads_and_watches_throw_RevisionCompactedException()
    {
        var r1 = await PutAsync(K("a"), "a1");
        await PutAsync(K("b"), "b1");
        var r3 = await PutAsync(K("a"), "a2");
        var r4 = await PutAsync(K("gone"), "x");
        var r5 = await DeleteAsync(K("gone"));
        var r6 = await PutAsync(K("c"), "c1");

        await Store.CompactAsync(r3.Revision, Guard());

        var list = await Assert.ThrowsAsync<RevisionCompactedException>(() => Store.ListAsync(Prefix, r1.Revision, cancellationToken: Guard()));
        var get = await Assert.ThrowsAsync<RevisionCompactedException>(() => Store.GetAsync(K("a"), r1.Revision, Guard()));
        var watch = await Assert.ThrowsAsync<RevisionCompactedException>(() => TakeAsync(Store.WatchAsync(Prefix, r1.Revision, Guard()), 1, Guard()));
        var again = await Assert.ThrowsAsync<RevisionCompactedException>(() => Store.CompactAsync(r1.Revision, Guard()));

        Assert.Equal(r1.Revision, list.Requested);
        Assert.Equal(r3.Revision, list.CompactedThrough);
        Assert.Contains("has been compacted", list.Message, StringComparison.Ordinal);
        Assert.Contains("watch from its revision", list.Message, StringComparison.Ordinal);
        Assert.Equal(r3.Revision, get.CompactedThrough);
        Assert.Equal(r3.Revision, watch.CompactedThrough);
        Assert.Equal(r1.Revision, again.Requested);
        Assert.Equal(["a=a2", "b=b1", "c=c1"], (await Store.ListAsync(Prefix, cancellationToken: Guard())).Items.Select(i => $"{i.Key[Prefix.Length..]}={S(i.Value)}"));
        Assert.Equal(["a=a2", "b=b1"], (await Store.ListAsync(Prefix, r3.Revision, cancellationToken: Guard())).Items.Select(i => $"{i.Key[Prefix.Length..]}={S(i.Value)}"));
        var fromCompactPoint = await TakeAsync(Store.WatchAsync(Prefix, r3.Revision, Guard()), 4, Guard());
        Assert.Equal([$"{r3.Revision} Put a", $"{r4.Revision} Put gone", $"{r5.Revision} Delete gone", $"{r6.Revision} Put c"],
            fromCompactPoint.Select(e => $"{e.Revision} {e.Type} {e.Kv.Key[Prefix.Length..]}"));
    }

    [Fact]
    public async Task Compacting_past_the_current_revision_throws_FutureRevisionException()
    {
        var current = await Store.GetRevisionAsync(Guard());

        await Assert.ThrowsAsync<FutureRevisionException>(() => Store.CompactAsync(current + 100, Guard()));
    }
}
