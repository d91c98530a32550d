using System.Reflection;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Leadership;

/// <summary>
/// Campaigns for the controllers' leadership on the store, which works the same on etcd and
/// SQLite (docs/adr/0016-leader-election-and-fencing.md).
/// <para>
/// A session is one store lease (TTL <see cref="LeaderElectionOptions.LeaseTtl"/>, renewed every
/// third of it). The member key <c>/orc/controlplanes/&lt;id&gt;</c> is put with it, and the
/// campaign creates <c>/orc/leader/controllers</c> with it in a put-if-absent transaction. The
/// winner's term lasts until the key is gone or its lease cannot be renewed before the TTL runs
/// out (counted from before the last successful renewal was sent, so the leader always gives up
/// no later than the store expires its key). The losers watch the key and campaign again the
/// moment it is deleted, whether by expiry, by a revoke at shutdown, or by hand.
/// </para>
/// <para>
/// A term's <see cref="LeadershipTerm.Revision"/> is the key's create revision. The key is never
/// rewritten during a term, so its mod revision equals that too: <see cref="FencedStateStore"/>
/// compares it in every controller write, so a deposed leader's writes fail.
/// </para>
/// </summary>
public sealed partial class LeaderElector : BackgroundService
{
    /// <summary>The role the controllers campaign for.</summary>
    public const string ControllersRole = "controllers";

    private readonly IStateStore _store;
    private readonly TimeProvider _time;
    private readonly LeaderElectionOptions _options;
    private readonly Func<string> _apiAddress;
    private readonly string _version;
    private readonly ILogger _logger;
    private readonly bool _campaign;
    private readonly IHostApplicationLifetime? _ready;
    private readonly Lock _gate = new();
    private TaskCompletionSource<LeadershipTerm> _nextTerm = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LeadershipTerm? _term;
    private DateTimeOffset _started;
    private long _terms;
    private long _leaseDeadlineTicks;

    /// <param name="memberId">This control plane's id (unique among those on one store).</param>
    /// <param name="apiAddress">The gRPC address others dial; read when the member key is written.</param>
    /// <param name="campaign">False: never campaign nor register (<c>ControllerOptions.Enabled</c> off, API-only hosts).</param>
    /// <param name="ready">When given, the campaign waits until the host has started (its API address is bound).</param>
    public LeaderElector(IStateStore store, TimeProvider time, LeaderElectionOptions options, string memberId, Func<string> apiAddress, ILogger<LeaderElector> logger, bool campaign = true, IHostApplicationLifetime? ready = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(memberId);
        options.Validate();
        _store = store;
        _time = time;
        _options = options;
        MemberId = memberId;
        _apiAddress = apiAddress;
        _version = ReadVersion();
        _logger = logger;
        _campaign = campaign;
        _ready = ready;
    }

    /// <summary>The leader key this elector campaigns for.</summary>
    public static string LeaderKey => StoreKeys.Leader(ControllersRole);

    public string MemberId { get; }

    /// <summary>
    /// The term in progress, null when this control plane does not lead. A term whose lease was
    /// not renewed within its TTL is over here at once, even before the renewal loop has run
    /// (a process that was paused must not act on a term another may have taken meanwhile).
    /// </summary>
    public LeadershipTerm? CurrentTerm
    {
        get
        {
            var term = Volatile.Read(ref _term);
            if (term is not { HasEnded: false })
            {
                return null;
            }

            return _time.GetUtcNow().UtcTicks < Interlocked.Read(ref _leaseDeadlineTicks) ? term : null;
        }
    }

    /// <summary>Whether this control plane leads now.</summary>
    public bool IsLeader => CurrentTerm is not null;

    /// <summary>The current term's fencing revision (the leader key's create revision), 0 when not leading.</summary>
    public long Revision => CurrentTerm?.Revision ?? 0;

    /// <summary>Terms won since the elector started.</summary>
    public long TermsWon => Interlocked.Read(ref _terms);

    /// <summary>Raised (on the elector's own task) when a term starts; handlers must not block.</summary>
    public event Action<LeadershipTerm>? TermStarted;

    /// <summary>Returns the current term, or waits for the next one.</summary>
    public Task<LeadershipTerm> WaitForTermAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return CurrentTerm is { } term ? Task.FromResult(term) : _nextTerm.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Ends <paramref name="term"/> if it is still the current one (a fenced write was refused,
    /// or leader-only work failed): its token is cancelled, and the elector releases the key if
    /// it still holds it and campaigns again.
    /// </summary>
    public void Resign(LeadershipTerm term, string reason)
    {
        ArgumentNullException.ThrowIfNull(term);
        if (term.End(reason))
        {
            LogTermEnded(_logger, MemberId, term.Revision, reason);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_campaign)
        {
            return;
        }

        if (_ready is not null)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (_ready.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                try
                {
                    await started.Task.WaitAsync(stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        _started = _time.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunSessionAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is StateStoreException or OperationCanceledException or ObjectDisposedException)
            {
                if (e is ObjectDisposedException)
                {
                    // The store closed: the host is stopping.
                    break;
                }

                LogSessionLost(_logger, MemberId, e.Message);
            }

            try
            {
                await Task.Delay(_options.RetryDelay, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One lease: register, campaign, lead or follow, until the lease is lost or the host stops.</summary>
    private async Task RunSessionAsync(CancellationToken stoppingToken)
    {
        var sent = _time.GetUtcNow();
        var lease = await _store.GrantLeaseAsync(_options.LeaseTtl, stoppingToken);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        Interlocked.Exchange(ref _leaseDeadlineTicks, (sent + lease.Ttl).UtcTicks);
        var keepAlive = KeepAliveAsync(lease, sent + lease.Ttl, session);
        try
        {
            await PutMemberAsync(lease.Id, leader: false, termRevision: 0, session.Token);
            await CampaignAsync(lease.Id, session.Token);
        }
        finally
        {
            EndTerm(stoppingToken.IsCancellationRequested ? "the control plane is stopping" : "the store lease was lost");
            await session.CancelAsync();
            await keepAlive;

            // Hand over at once instead of one TTL later (a clean stop, or a session given up on a
            // store error): revoking deletes the leader and member keys. A lost lease is already gone.
            await RevokeAsync(lease.Id);
        }
    }

    private async Task CampaignAsync(long leaseId, CancellationToken session)
    {
        var key = LeaderKey;
        while (true)
        {
            session.ThrowIfCancellationRequested();
            var now = _time.GetUtcNow();
            var holder = new ControlPlaneMember { Id = MemberId, ApiAddress = _apiAddress(), Leader = true, Since = Timestamp.FromDateTimeOffset(now), Version = _version };
            var result = await _store.TxnAsync(
                new Txn([Compare.Absent(key)], [TxnOp.Put(key, ProtoJson.Encode(holder), leaseId)], [TxnOp.Get(key)]),
                session);
            if (result.Succeeded)
            {
                // The key was created by this transaction: its create (and mod) revision is the transaction's.
                await LeadAsync(new LeadershipTerm(result.Revision, leaseId, now), session);
                continue;
            }

            var current = result.Results[0].Kv;
            if (current is not null && current.Lease == leaseId)
            {
                // Still ours from a term that ended (resigned): release it so anyone may win.
                await _store.TxnAsync(new Txn([Compare.ModRevision(key, current.ModRevision)], [TxnOp.Delete(key)], []), session);
                continue;
            }

            if (current is not null)
            {
                LogFollowing(_logger, MemberId, Describe(current), current.CreateRevision);
            }

            await WaitForChangeAsync(key, result.Revision + 1, session);
        }
    }

    private async Task LeadAsync(LeadershipTerm term, CancellationToken session)
    {
        // The term is never disposed: leader-only work may still look at its token after it ended.
        lock (_gate)
        {
            Volatile.Write(ref _term, term);
            _nextTerm.TrySetResult(term);
            _nextTerm = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        Interlocked.Increment(ref _terms);
        LogElected(_logger, MemberId, term.Revision);
        TermStarted?.Invoke(term);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(session, term.Token);
        try
        {
            await PutMemberAsync(term.LeaseId, leader: true, term.Revision, both.Token);
            await WaitForChangeAsync(LeaderKey, term.Revision + 1, both.Token);
            Resign(term, "the leader key was deleted or replaced");
        }
        catch (OperationCanceledException) when (term.Token.IsCancellationRequested && !session.IsCancellationRequested)
        {
            // Resigned (a fenced write was refused, or leader-only work failed): campaign again.
        }
        finally
        {
            // A session that ended (lease lost, stopping) ends the term with its own reason.
            if (!session.IsCancellationRequested)
            {
                Resign(term, "the term ended");
            }
        }

        if (!session.IsCancellationRequested)
        {
            await PutMemberAsync(term.LeaseId, leader: false, termRevision: 0, session);
        }
    }

    /// <summary>Returns at the first change of <paramref name="key"/> from <paramref name="fromRevision"/> on.</summary>
    private async Task WaitForChangeAsync(string key, long fromRevision, CancellationToken cancellationToken)
    {
        await foreach (var change in _store.WatchAsync(key, fromRevision, cancellationToken))
        {
            if (string.Equals(change.Kv.Key, key, StringComparison.Ordinal))
            {
                return;
            }
        }

        // The store was disposed: the host is stopping.
        throw new OperationCanceledException("the store closed");
    }

    /// <summary>
    /// Renews the lease every third of its TTL. The session ends when the store says the lease is
    /// gone, or when the TTL since the last renewal that succeeded (counted from when it was sent)
    /// has run out, whatever the store says later: past that point another control plane may lead.
    /// </summary>
    private async Task KeepAliveAsync(Lease lease, DateTimeOffset deadline, CancellationTokenSource session)
    {
        var token = session.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var wait = _options.KeepAliveInterval;
                var left = deadline - _time.GetUtcNow();
                await Task.Delay(wait < left ? wait : left > TimeSpan.Zero ? left : TimeSpan.Zero, _time, token);
                var sent = _time.GetUtcNow();
                if (sent >= deadline)
                {
                    LogLeaseLost(_logger, MemberId, lease.Id, "no renewal succeeded within the lease TTL");
                    break;
                }

                try
                {
                    using var timeout = new CancellationTokenSource(deadline - sent, _time);
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(token, timeout.Token);
                    var renewed = await _store.KeepAliveAsync(lease.Id, linked.Token);
                    deadline = sent + renewed.Ttl;
                    Interlocked.Exchange(ref _leaseDeadlineTicks, deadline.UtcTicks);
                }
                catch (LeaseNotFoundException)
                {
                    LogLeaseLost(_logger, MemberId, lease.Id, "the store expired it");
                    break;
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    // The renewal did not answer before the deadline: the loop ends the session.
                }
                catch (StateStoreException e)
                {
                    LogRenewFailed(_logger, MemberId, lease.Id, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            // The store closed: the host is stopping.
        }

        EndTerm("the store lease was lost");
        await session.CancelAsync();
    }

    private void EndTerm(string reason)
    {
        if (Volatile.Read(ref _term) is { } term)
        {
            Resign(term, reason);
        }
    }

    private async Task PutMemberAsync(long leaseId, bool leader, long termRevision, CancellationToken cancellationToken)
    {
        var member = new ControlPlaneMember
        {
            Id = MemberId,
            ApiAddress = _apiAddress(),
            Leader = leader,
            Since = Timestamp.FromDateTimeOffset(_time.GetUtcNow()),
            Started = Timestamp.FromDateTimeOffset(_started == default ? _time.GetUtcNow() : _started),
            Version = _version,
            TermRevision = termRevision,
        };
        await _store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.ControlPlane(MemberId), ProtoJson.Encode(member), leaseId)), cancellationToken);
    }

    private async Task RevokeAsync(long leaseId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.LeaseTtl, _time);
            await _store.RevokeLeaseAsync(leaseId, timeout.Token);
        }
#pragma warning disable CA1031 // Best effort at shutdown: if the revoke fails, the lease expires one TTL later.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogRevokeFailed(_logger, MemberId, leaseId, e.Message);
        }
    }

    private static string ReadVersion()
    {
        var informational = typeof(LeaderElector).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? informational : informational[..plus];
    }

    private static string Describe(KeyValue kv)
    {
        try
        {
            var holder = ProtoJson.Decode<ControlPlaneMember>(kv.Value, kv.Key);
            return $"{holder.Id} at {holder.ApiAddress}";
        }
        catch (ObjectException)
        {
            return "an unreadable holder";
        }
    }

    [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "Control plane {Member} leads (term revision {Revision}): controllers and the scheduler run here")]
    private static partial void LogElected(ILogger logger, string member, long revision);

    [LoggerMessage(EventId = 1502, Level = LogLevel.Warning, Message = "Control plane {Member} no longer leads (term revision {Revision}): {Reason}")]
    private static partial void LogTermEnded(ILogger logger, string member, long revision, string reason);

    [LoggerMessage(EventId = 1503, Level = LogLevel.Information, Message = "Control plane {Member} follows {Leader} (term revision {Revision})")]
    private static partial void LogFollowing(ILogger logger, string member, string leader, long revision);

    [LoggerMessage(EventId = 1504, Level = LogLevel.Warning, Message = "Control plane {Member}: store lease {Lease} lost ({Reason}); registering and campaigning again")]
    private static partial void LogLeaseLost(ILogger logger, string member, long lease, string reason);

    [LoggerMessage(EventId = 1505, Level = LogLevel.Warning, Message = "Control plane {Member}: renewing store lease {Lease} failed ({Reason}); retrying until its TTL runs out")]
    private static partial void LogRenewFailed(ILogger logger, string member, long lease, string reason);

    [LoggerMessage(EventId = 1506, Level = LogLevel.Warning, Message = "Control plane {Member}: election session ended ({Reason}); starting a new one")]
    private static partial void LogSessionLost(ILogger logger, string member, string reason);

    [LoggerMessage(EventId = 1507, Level = LogLevel.Warning, Message = "Control plane {Member}: revoking store lease {Lease} at shutdown failed ({Reason}); its keys expire with the TTL")]
    private static partial void LogRevokeFailed(ILogger logger, string member, long lease, string reason);
}
