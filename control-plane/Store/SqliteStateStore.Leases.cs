namespace Orchestrator.ControlPlane.Store;

public sealed partial class SqliteStateStore
{
    // Lease ids and TTLs are persisted; deadlines live in memory only. After a restart every
    // lease gets its full TTL again, as etcd does on a leader change: a holder that is still
    // alive keeps its lease, one that is gone loses it one TTL later.
    private readonly Dictionary<long, LeaseState> _leases = [];
    private readonly Lock _leaseGate = new();
    private readonly ITimer _leaseTimer;
    private long _leaseSequence;
    private long _leaseScans;

    /// <summary>How often the lease timer was re-armed by scanning every lease (tests: keep-alives never do).</summary>
    internal long LeaseScans
    {
        get
        {
            lock (_leaseGate)
            {
                return _leaseScans;
            }
        }
    }

    private int LeaseCount
    {
        get
        {
            lock (_leaseGate)
            {
                return _leases.Count;
            }
        }
    }

    public async Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "a lease TTL must be positive, e.g. 10s");
        }

        // Whole milliseconds are what the table stores; round up so a TTL never shrinks.
        var ttlMs = (long)Math.Ceiling(ttl.TotalMilliseconds);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfDisposed();
            var id = _leaseSequence + 1;
            Write(tx =>
            {
                Exec(_writer, tx, "INSERT INTO leases (id, ttl_ms) VALUES ($id, $ttl);", ("$id", id), ("$ttl", ttlMs));
                SetMeta(tx, "lease_sequence", id);
                return 0;
            });
            _leaseSequence = id;
            var granted = TimeSpan.FromMilliseconds(ttlMs);
            lock (_leaseGate)
            {
                _leases[id] = new LeaseState(granted, _time.GetUtcNow() + granted);
                ScheduleLeaseTimer();
            }

            return new Lease(id, granted);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_leaseGate)
        {
            var now = _time.GetUtcNow();
            if (_leases.TryGetValue(leaseId, out var lease) && lease.Deadline > now)
            {
                // O(1): a later deadline never makes the armed timer late, only possibly early;
                // an early timer finds nothing due and re-arms for the earliest deadline then.
                // (Re-arming here scanned every lease on every keep-alive: with 5,000 nodes
                // heartbeating each second that was 25 million comparisons a second.)
                _leases[leaseId] = lease with { Deadline = now + lease.Ttl };
                return new Lease(leaseId, lease.Ttl);
            }
        }

        // Past its deadline but not yet revoked: revoke it now, so its keys go in the same
        // moment the holder learns it lost the lease.
        await ExpireDueLeasesAsync(cancellationToken);
        throw new LeaseNotFoundException(leaseId);
    }

    public async Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfDisposed();
            RevokeLocked(leaseId);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private bool LeaseExists(long leaseId)
    {
        lock (_leaseGate)
        {
            return _leases.ContainsKey(leaseId);
        }
    }

    /// <summary>Deletes the lease and its keys in one revision (none if it holds no key). Caller holds the write lock.</summary>
    private int RevokeLocked(long leaseId)
    {
        lock (_leaseGate)
        {
            if (!_leases.ContainsKey(leaseId))
            {
                return 0;
            }
        }

        var deleted = Write(tx =>
        {
            var newRevision = _revision + 1;
            var events = new List<(byte[] Key, WatchEvent Event)>();
            var candidates = new List<byte[]>();
            // "lease != 0" repeats the partial index's condition so the planner can use that index.
            using (var cmd = Command(_writer, tx, "SELECT DISTINCT key FROM kv_log WHERE lease = $lease AND lease != 0 ORDER BY key;", ("$lease", leaseId)))
            using (var reader = cmd.ExecuteReader())
            {
                while (reader.Read())
                {
                    candidates.Add(reader.GetFieldValue<byte[]>(0));
                }
            }

            foreach (var keyBytes in candidates)
            {
                var row = ReadLatest(_writer, tx, keyBytes, long.MaxValue);
                if (row is { Deleted: false } && row.Lease == leaseId)
                {
                    events.Add((keyBytes, DeleteRow(tx, keyBytes, KeyBytes.ToKey(keyBytes), row, newRevision)));
                }
            }

            Exec(_writer, tx, "DELETE FROM leases WHERE id = $id;", ("$id", leaseId));
            if (events.Count > 0)
            {
                SetMeta(tx, "revision", newRevision);
                _pendingEvents = events.ConvertAll(e => e.Event);
                _pendingRevision = newRevision;
            }

            return events.Count;
        });

        lock (_leaseGate)
        {
            _leases.Remove(leaseId);
            ScheduleLeaseTimer();
        }

        return deleted;
    }

    private void OnLeaseTimer() => _ = ExpireInBackgroundAsync();

    private async Task ExpireInBackgroundAsync()
    {
        try
        {
            // Leave the timer's thread at once: a fake clock runs this callback inside Advance().
            await Task.Yield();
            await ExpireDueLeasesAsync(CancellationToken.None);
        }
        catch (ObjectDisposedException)
        {
            // The store closed while a deadline passed; the leases get a full TTL on the next open.
        }
        catch (StateStoreException ex)
        {
            Log.LeaseExpiryFailed(_logger, ex);
        }
    }

    private async Task ExpireDueLeasesAsync(CancellationToken cancellationToken)
    {
        lock (_leaseGate)
        {
            // The timer often fires early (keep-alives move deadlines without re-arming it):
            // then re-arm without taking the write lock.
            var now = _time.GetUtcNow();
            if (!_leases.Values.Any(l => l.Deadline <= now))
            {
                ScheduleLeaseTimer();
                return;
            }
        }

        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (_disposed)
            {
                return;
            }

            List<long> due;
            lock (_leaseGate)
            {
                var now = _time.GetUtcNow();
                due = [.. _leases.Where(l => l.Value.Deadline <= now).Select(l => l.Key).Order()];
            }

            foreach (var leaseId in due)
            {
                var keys = RevokeLocked(leaseId);
                Log.LeaseExpired(_logger, leaseId, keys);
            }

            lock (_leaseGate)
            {
                ScheduleLeaseTimer();
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Arms the timer for the earliest deadline. Caller holds <see cref="_leaseGate"/>.</summary>
    private void ScheduleLeaseTimer()
    {
        if (_disposed)
        {
            return;
        }

        if (_leases.Count == 0)
        {
            _leaseTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        _leaseScans++;
        var earliest = _leases.Values.Min(l => l.Deadline);
        var due = earliest - _time.GetUtcNow();
        _leaseTimer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
    }

    private sealed record LeaseState(TimeSpan Ttl, DateTimeOffset Deadline);
}
