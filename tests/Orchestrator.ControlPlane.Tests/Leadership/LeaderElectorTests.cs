using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ControlPlane.Leadership;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Tests.Controllers;
using Orchestrator.TestSupport;
using Orchestrator.V1;
using WatchEvent = Orchestrator.ControlPlane.Store.WatchEvent;

namespace Orchestrator.ControlPlane.Tests.Leadership;

/// <summary>
/// Leader election on a real SQLite store with the fake clock: the store's lease expiry follows
/// that clock, so a lost leader, an expired lease and a failover happen when the test advances it.
/// </summary>
public sealed class LeaderElectorTests : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private readonly TempDirectory _dir = new("orc-leader");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly List<IHostedService> _started = [];
    private SqliteStateStore? _store;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SqliteStateStore Store => _store ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), _time, cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        foreach (var service in Enumerable.Reverse(_started))
        {
            await service.StopAsync(CancellationToken.None);
            (service as IDisposable)?.Dispose();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<LeaderElector> StartAsync(string id, IStateStore? store = null)
    {
        var elector = new LeaderElector(store ?? Store, _time, new LeaderElectionOptions { LeaseTtl = Ttl }, id, () => $"http://{id}:7070", NullLogger<LeaderElector>.Instance);
        await elector.StartAsync(Ct);
        _started.Add(elector);
        return elector;
    }

    private async Task<ControlPlaneMember?> HolderAsync()
    {
        var kv = (await Store.GetAsync(LeaderElector.LeaderKey, cancellationToken: Ct)).Kv;
        return kv is null ? null : ProtoJson.Decode<ControlPlaneMember>(kv.Value, kv.Key);
    }

    /// <summary>Moves the fake clock on in small steps, letting the electors' tasks run between them, until <paramref name="condition"/> holds.</summary>
    private async Task AdvanceUntilAsync(Func<bool> condition, string what)
    {
        for (var step = 0; !condition(); step++)
        {
            if (step > 2000)
            {
                throw new TimeoutException($"still waiting after {step} steps of the fake clock for: {what}");
            }

            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, Ct);
        }
    }

    [Fact]
    public async Task Exactly_one_of_three_control_planes_leads_and_the_leader_key_names_it()
    {
        var electors = new[] { await StartAsync("cp-1"), await StartAsync("cp-2"), await StartAsync("cp-3") };

        await Eventually.TrueAsync(() => electors.Count(e => e.IsLeader) == 1, "one leader", Ct);
        var leader = electors.Single(e => e.IsLeader);
        var holder = await HolderAsync();
        Assert.NotNull(holder);
        Assert.Equal((leader.MemberId, $"http://{leader.MemberId}:7070"), (holder.Id, holder.ApiAddress));
        var key = (await Store.GetAsync(LeaderElector.LeaderKey, cancellationToken: Ct)).Kv!;
        Assert.Equal(key.CreateRevision, leader.Revision);
        Assert.Equal(0, electors.Where(e => !e.IsLeader).Sum(e => e.Revision));

        // Every control plane registered itself under a leased key.
        await Eventually.TrueAsync(async () => (await Store.ListAsync(StoreKeys.ControlPlanesPrefix, cancellationToken: Ct)).Items.Count == 3, "three members registered", Ct);
        var members = (await Store.ListAsync(StoreKeys.ControlPlanesPrefix, cancellationToken: Ct)).Items;
        Assert.All(members, m => Assert.NotEqual(0, m.Lease));
        Assert.Equal(["cp-1", "cp-2", "cp-3"], members.Select(m => ProtoJson.Decode<ControlPlaneMember>(m.Value, m.Key).Id));
    }

    [Fact]
    public async Task A_leader_keeps_its_term_for_as_long_as_it_renews_its_lease()
    {
        var first = await StartAsync("cp-1");
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var term = first.CurrentTerm!;
        var second = await StartAsync("cp-2");
        await Eventually.TrueAsync(async () => (await Store.ListAsync(StoreKeys.ControlPlanesPrefix, cancellationToken: Ct)).Items.Count == 2, "cp-2 registered", Ct);

        // Ten TTLs on the clock, a renewal every third of one.
        var until = _time.GetUtcNow() + (Ttl * 10);
        await AdvanceUntilAsync(() => _time.GetUtcNow() >= until, "ten TTLs passed");

        Assert.Same(term, first.CurrentTerm);
        Assert.False(term.Token.IsCancellationRequested);
        Assert.False(second.IsLeader);
        Assert.Equal(1, first.TermsWon);
    }

    [Fact]
    public async Task A_leader_cut_off_from_the_store_ends_its_term_and_another_wins_once_its_lease_expires()
    {
        var cut = new PartitionedStore(Store);
        var first = await StartAsync("cp-1", cut);
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var term = first.CurrentTerm!;
        var second = await StartAsync("cp-2");
        var third = await StartAsync("cp-3");
        await Eventually.TrueAsync(async () => (await Store.ListAsync(StoreKeys.ControlPlanesPrefix, cancellationToken: Ct)).Items.Count == 3, "all registered", Ct);

        cut.Cut = true;
        await AdvanceUntilAsync(() => second.IsLeader || third.IsLeader, "a new leader");

        // The old leader gave up no later than the store took its key away.
        Assert.True(term.Token.IsCancellationRequested);
        Assert.False(first.IsLeader);
        var winner = second.IsLeader ? second : third;
        Assert.False(second.IsLeader && third.IsLeader);
        Assert.True(winner.Revision > term.Revision);
        Assert.Equal(winner.MemberId, (await HolderAsync())!.Id);

        // Its record went with its lease.
        Assert.Null((await Store.GetAsync(StoreKeys.ControlPlane("cp-1"), cancellationToken: Ct)).Kv);

        // Back in touch, it registers again and follows.
        cut.Cut = false;
        await AdvanceUntilAsync(() => Store.GetAsync(StoreKeys.ControlPlane("cp-1"), cancellationToken: Ct).Result.Kv is not null, "cp-1 registered again");
        Assert.False(first.IsLeader);
        Assert.Equal(winner.MemberId, (await HolderAsync())!.Id);
    }

    [Fact]
    public async Task Stopping_the_leader_hands_over_without_waiting_for_its_lease_to_expire()
    {
        var first = await StartAsync("cp-1");
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var term = first.CurrentTerm!;
        var second = await StartAsync("cp-2");
        await Eventually.TrueAsync(async () => (await Store.ListAsync(StoreKeys.ControlPlanesPrefix, cancellationToken: Ct)).Items.Count == 2, "cp-2 registered", Ct);

        await first.StopAsync(Ct);

        // The clock does not move: the revoke at shutdown deleted the key at once.
        await Eventually.TrueAsync(() => second.IsLeader, "cp-2 leads", Ct);
        Assert.True(term.Token.IsCancellationRequested);
        Assert.Equal("cp-2", (await HolderAsync())!.Id);
        Assert.Null((await Store.GetAsync(StoreKeys.ControlPlane("cp-1"), cancellationToken: Ct)).Kv);
    }

    [Fact]
    public async Task Deleting_the_leader_key_by_hand_ends_the_term_and_starts_a_new_election()
    {
        var first = await StartAsync("cp-1");
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var term = first.CurrentTerm!;

        await Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(LeaderElector.LeaderKey)), Ct);

        await Eventually.TrueAsync(() => first.CurrentTerm is { } next && next != term, "a new term", Ct);
        Assert.True(term.Token.IsCancellationRequested);
        Assert.True(first.Revision > term.Revision);
        Assert.Equal(2, first.TermsWon);
    }

    [Fact]
    public async Task Writes_through_the_fenced_store_carry_the_terms_revision_and_fail_once_the_term_is_lost()
    {
        var first = await StartAsync("cp-1");
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var fenced = new FencedStateStore(Store, first);

        var ok = await fenced.TxnAsync(Txn.Unconditional(TxnOp.Put("/orc/test/a", "1"u8.ToArray())), Ct);
        Assert.True(ok.Succeeded);

        // The caller's own comparison failing is not a fencing failure: its results come back as they would unfenced.
        var mine = await fenced.TxnAsync(new Txn([Compare.Absent("/orc/test/a")], [TxnOp.Put("/orc/test/a", "2"u8.ToArray())], [TxnOp.Get("/orc/test/a")]), Ct);
        Assert.False(mine.Succeeded);
        Assert.Equal("1", Encoding.UTF8.GetString(Assert.Single(mine.Results).Kv!.Value));

        // Another control plane takes the key as if this one's lease had expired while it was paused.
        var other = await Store.GrantLeaseAsync(Ttl, Ct);
        await Store.TxnAsync(Txn.Unconditional(TxnOp.Put(LeaderElector.LeaderKey, ProtoJson.Encode(new ControlPlaneMember { Id = "cp-9" }), other.Id)), Ct);

        var refused = await Assert.ThrowsAsync<LeadershipLostException>(() => fenced.TxnAsync(Txn.Unconditional(TxnOp.Put("/orc/test/a", "3"u8.ToArray())), Ct));
        Assert.Contains("cp-1", refused.Message, StringComparison.Ordinal);
        Assert.Equal("1", Encoding.UTF8.GetString((await Store.GetAsync("/orc/test/a", cancellationToken: Ct)).Kv!.Value));
        Assert.Equal(1, fenced.Refused);
        Assert.False(first.IsLeader);
    }

    [Fact]
    public async Task Leader_only_services_run_during_a_term_and_stop_when_it_ends()
    {
        var first = await StartAsync("cp-1");
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var recorder = new RecordingService();
        var services = new LeaderOnlyServices(first, [recorder], NullLogger<LeaderOnlyServices>.Instance);
        await services.StartAsync(Ct);
        _started.Add(services);

        await Eventually.TrueAsync(() => recorder.Running, "the service runs", Ct);
        Assert.Equal(1, recorder.Starts);

        await Store.TxnAsync(Txn.Unconditional(TxnOp.Delete(LeaderElector.LeaderKey)), Ct);

        // The old term's run was cancelled and the next term started it again.
        await Eventually.TrueAsync(() => recorder.Starts == 2 && recorder.Running, "a second run", Ct);
        Assert.Equal(1, recorder.Cancelled);
        Assert.Equal(2, services.TermsServed);
    }

    [Fact]
    public async Task A_follower_never_starts_the_leader_only_services()
    {
        var first = await StartAsync("cp-1");
        await Eventually.TrueAsync(() => first.IsLeader, "cp-1 leads", Ct);
        var second = await StartAsync("cp-2");
        await Eventually.TrueAsync(async () => (await Store.ListAsync(StoreKeys.ControlPlanesPrefix, cancellationToken: Ct)).Items.Count == 2, "cp-2 registered", Ct);
        var recorder = new RecordingService();
        var services = new LeaderOnlyServices(second, [recorder], NullLogger<LeaderOnlyServices>.Instance);
        await services.StartAsync(Ct);
        _started.Add(services);

        var until = _time.GetUtcNow() + (Ttl * 3);
        await AdvanceUntilAsync(() => _time.GetUtcNow() >= until, "three TTLs passed");

        Assert.Equal(0, recorder.Starts);
        await Assert.ThrowsAsync<LeadershipLostException>(() => new FencedStateStore(Store, second).TxnAsync(Txn.Unconditional(TxnOp.Put("/orc/test/b", [])), Ct));
        Assert.Null((await Store.GetAsync("/orc/test/b", cancellationToken: Ct)).Kv);
    }

    [Fact]
    public async Task An_elector_that_may_not_campaign_writes_nothing()
    {
        var revision = await Store.GetRevisionAsync(Ct);
        var elector = new LeaderElector(Store, _time, new LeaderElectionOptions(), "cp-1", () => "", NullLogger<LeaderElector>.Instance, campaign: false);
        await elector.StartAsync(Ct);
        _started.Add(elector);
        await elector.ExecuteTask!;

        Assert.False(elector.IsLeader);
        Assert.Equal(revision, await Store.GetRevisionAsync(Ct));
    }

    [Fact]
    public void A_lease_ttl_too_short_to_renew_is_refused_with_the_fix()
    {
        var e = Assert.Throws<ArgumentException>(() => new LeaderElector(Store, _time, new LeaderElectionOptions { LeaseTtl = TimeSpan.FromMilliseconds(10) }, "cp-1", () => "", NullLogger<LeaderElector>.Instance));
        Assert.Contains("at least 300 ms", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Counts its runs; each run lasts until its token is cancelled.</summary>
    private sealed class RecordingService : BackgroundService
    {
        private int _starts;
        private int _cancelled;
        private int _running;

        public int Starts => Volatile.Read(ref _starts);

        public int Cancelled => Volatile.Read(ref _cancelled);

        public bool Running => Volatile.Read(ref _running) == 1;

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            Interlocked.Increment(ref _starts);
            Volatile.Write(ref _running, 1);
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelled);
            }
            finally
            {
                Volatile.Write(ref _running, 0);
            }
        }
    }

    /// <summary>A store a network partition can cut off: every call fails while <see cref="Cut"/> is set.</summary>
    private sealed class PartitionedStore(IStateStore inner) : IStateStore
    {
        public bool Cut { get; set; }

        public string Description => inner.Description;

        private void Check()
        {
            if (Cut)
            {
                throw new StoreUnavailableException("the store cannot be reached (partitioned by the test)");
            }
        }

        public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default)
        {
            Check();
            return inner.GetRevisionAsync(cancellationToken);
        }

        public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.GetAsync(key, atRevision, cancellationToken);
        }

        public Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.ListAsync(prefix, atRevision, limit, cancellationToken);
        }

        public Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.TxnAsync(txn, cancellationToken);
        }

        public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.WatchAsync(prefix, fromRevision, cancellationToken);
        }

        public IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.WatchWithPreviousAsync(prefix, fromRevision, cancellationToken);
        }

        public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.GrantLeaseAsync(ttl, cancellationToken);
        }

        public Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.KeepAliveAsync(leaseId, cancellationToken);
        }

        public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.RevokeLeaseAsync(leaseId, cancellationToken);
        }

        public Task CompactAsync(long revision, CancellationToken cancellationToken = default)
        {
            Check();
            return inner.CompactAsync(revision, cancellationToken);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
