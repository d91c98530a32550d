using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Orchestrator.ControlPlane.Store;

/// <summary>
/// The embedded store: etcd's semantics on one SQLite file, modelled as a revision log
/// (as k3s's kine does). Every write appends a row stamped with a store revision; the
/// current value of a key is its latest row; a list at revision R is the latest row per key
/// with revision ≤ R that is not a delete; a watch from N replays rows ≥ N, then follows live
/// writes. See docs/adr/0001-state-store.md.
/// </summary>
/// <remarks>
/// One process owns the file. Writes are serialized by one in-process lock, each transaction
/// is one SQLite transaction committed with WAL and <c>synchronous=FULL</c>, so a write is on
/// disk before it is acknowledged and survives kill -9 and power loss.
/// </remarks>
public sealed partial class SqliteStateStore : IStateStore
{
    private const int SchemaVersion = 1;

    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly FileStream _ownerLock;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<WatchSubscriber, byte> _subscribers = new();
    private long _revision;
    private long _compactRevision;

    // Events of the transaction being written, published once it commits (see Write).
    private List<WatchEvent>? _pendingEvents;
    private long _pendingRevision;
    private volatile bool _disposed;

    private SqliteStateStore(string path, string connectionString, SqliteConnection writer, FileStream ownerLock, TimeProvider time, ILogger logger)
    {
        _ownerLock = ownerLock;
        FilePath = path;
        _connectionString = connectionString;
        _writer = writer;
        _time = time;
        _logger = logger;
        _leaseTimer = time.CreateTimer(static s => ((SqliteStateStore)s!).OnLeaseTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    public string Description => "sqlite://" + FilePath;

    /// <summary>
    /// Opens (or creates) the store in <paramref name="path"/>, creating its directory if needed.
    /// Leases found in the file get their full TTL again, as etcd does on a leader change.
    /// </summary>
    public static Task<SqliteStateStore> OpenAsync(string path, TimeProvider? time = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        cancellationToken.ThrowIfCancellationRequested();
        var fullPath = Path.GetFullPath(path);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        SqliteConnection? writer = null;
        FileStream? ownerLock = null;
        try
        {
            var directory = Path.GetDirectoryName(fullPath);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            ownerLock = LockOwnership(fullPath);
            writer = new SqliteConnection(connectionString);
            writer.Open();
            Exec(writer, null, "PRAGMA journal_mode=WAL;");
            Exec(writer, null, "PRAGMA synchronous=FULL;");
            CreateSchema(writer);
            var store = new SqliteStateStore(fullPath, connectionString, writer, ownerLock, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
            store.LoadState();
            Log.Opened(store._logger, fullPath, store._revision, store._compactRevision, store.LeaseCount);
            return Task.FromResult(store);
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            writer?.Dispose();
            ownerLock?.Dispose();
            throw new StateStoreException($"cannot open the SQLite store at '{fullPath}': {ex.Message}; check that the path in --store names a file in a writable directory", ex);
        }
        catch
        {
            writer?.Dispose();
            ownerLock?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One process owns the file: the revision counter, the write lock and the watchers live in
    /// its memory, so a second control plane on the same file would corrupt the log's meaning.
    /// An exclusive lock on a file beside it (released by the OS when the process dies, even by
    /// kill -9) makes the second one fail at start instead.
    /// </summary>
    private static FileStream LockOwnership(string fullPath)
    {
        var lockPath = fullPath + ".lock";
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex) when (File.Exists(lockPath))
        {
            throw new StateStoreException($"the SQLite store at '{fullPath}' is already open in another process (it holds '{lockPath}'); stop that control plane, or give this one its own --store sqlite://path", ex);
        }
    }

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.FromResult(Interlocked.Read(ref _revision));
    }

    public Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default)
    {
        KeyBytes.ValidateKey(key, nameof(key));
        KeyBytes.ValidateRevision(atRevision, nameof(atRevision));
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Read(
            (conn, tx) =>
            {
                var at = ResolveRevision(conn, tx, atRevision);
                var row = ReadLatest(conn, tx, KeyBytes.Of(key), at);
                return new GetResult(row is { Deleted: false } ? row.ToKeyValue(key) : null, at);
            }));
    }

    public Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        KeyBytes.ValidateRevision(atRevision, nameof(atRevision));
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Read(
            (conn, tx) =>
            {
                var at = ResolveRevision(conn, tx, atRevision);
                var items = ListLive(conn, tx, KeyBytes.Of(prefix), at, limit == 0 ? -1 : limit + 1);
                var more = limit > 0 && items.Count > limit;
                if (more)
                {
                    items.RemoveAt(items.Count - 1);
                }

                return new ListResult(items, at, more);
            }));
    }

    public async Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default)
    {
        KeyBytes.ValidateTxn(txn);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfDisposed();
            return Write(tx => RunTxn(tx, txn));
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task CompactAsync(long revision, CancellationToken cancellationToken = default)
    {
        if (revision <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(revision), revision, "compact to a positive store revision, at most the current one");
        }

        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfDisposed();
            if (revision > _revision)
            {
                throw new FutureRevisionException(revision, _revision);
            }

            if (revision <= _compactRevision)
            {
                throw new RevisionCompactedException(revision, _compactRevision);
            }

            var removed = Write(tx =>
            {
                // Keep what etcd keeps, every row a read at revision >= R can need: all rows at or
                // after R, and for each key its latest row at or before R unless that is a delete
                // (absence needs no row).
                var deleted = Exec(_writer, tx,
                    """
                    DELETE FROM kv_log
                    WHERE revision < $r
                      AND (deleted = 1
                           OR revision < (SELECT MAX(q.revision) FROM kv_log q WHERE q.key = kv_log.key AND q.revision <= $r));
                    """,
                    ("$r", revision));
                SetMeta(tx, "compact_revision", revision);
                return deleted;
            });
            _compactRevision = revision;
            Log.Compacted(_logger, revision, removed);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            await _leaseTimer.DisposeAsync();
            foreach (var subscriber in _subscribers.Keys)
            {
                subscriber.Close(lagged: false);
            }

            _subscribers.Clear();
            _writer.Dispose();

            // Pooled read connections hold the file open; release them so the file can be
            // reopened or deleted at once.
            using (var probe = new SqliteConnection(_connectionString))
            {
                SqliteConnection.ClearPool(probe);
            }

            await _ownerLock.DisposeAsync();
        }
        finally
        {
            _writeLock.Release();
        }

        // The write lock is not disposed: a lease timer callback may still be waiting on it,
        // and it then finds the store closed and returns.
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private TxnResult RunTxn(SqliteTransaction tx, Txn txn)
    {
        var succeeded = txn.If.All(c => Holds(tx, c));
        var ops = succeeded ? txn.Then : txn.Else;
        var newRevision = _revision + 1;
        var results = new List<OpResult>(ops.Count);
        var events = new List<(byte[] Key, WatchEvent Event)>();

        foreach (var op in ops)
        {
            switch (op)
            {
                case PutOp put:
                    {
                        if (put.Lease != 0 && !LeaseExists(put.Lease))
                        {
                            throw new LeaseNotFoundException(put.Lease);
                        }

                        var keyBytes = KeyBytes.Of(put.Key);
                        var prev = ReadLatest(_writer, tx, keyBytes, long.MaxValue);
                        var live = prev is { Deleted: false } ? prev : null;
                        // Watchers get their own copy: the caller may reuse its buffer once the put returns.
                        var kv = new KeyValue(put.Key, put.Value.ToArray(), live?.CreateRevision ?? newRevision, newRevision, (live?.Version ?? 0) + 1, put.Lease);
                        InsertRow(tx, keyBytes, kv, deleted: false);
                        events.Add((keyBytes, new WatchEvent(WatchEventType.Put, kv, live?.ToKeyValue(put.Key))));
                        results.Add(new OpResult(null, 0));
                        break;
                    }

                case DeleteOp delete:
                    {
                        var keyBytes = KeyBytes.Of(delete.Key);
                        var prev = ReadLatest(_writer, tx, keyBytes, long.MaxValue);
                        var deleted = 0;
                        if (prev is { Deleted: false } && prev.Revision != newRevision)
                        {
                            events.Add((keyBytes, DeleteRow(tx, keyBytes, delete.Key, prev, newRevision)));
                            deleted = 1;
                        }

                        results.Add(new OpResult(null, deleted));
                        break;
                    }

                case DeletePrefixOp deletePrefix:
                    {
                        var live = ListLiveRows(_writer, tx, KeyBytes.Of(deletePrefix.Prefix), long.MaxValue, -1);
                        foreach (var (keyBytes, row) in live)
                        {
                            events.Add((keyBytes, DeleteRow(tx, keyBytes, KeyBytes.ToKey(keyBytes), row, newRevision)));
                        }

                        results.Add(new OpResult(null, live.Count));
                        break;
                    }

                case GetOp get:
                    {
                        var row = ReadLatest(_writer, tx, KeyBytes.Of(get.Key), long.MaxValue);
                        results.Add(new OpResult(row is { Deleted: false } ? row.ToKeyValue(get.Key) : null, 0));
                        break;
                    }
            }
        }

        if (events.Count == 0)
        {
            return new TxnResult(succeeded, _revision, results);
        }

        SetMeta(tx, "revision", newRevision);
        events.Sort((a, b) => KeyBytes.Compare(a.Key, b.Key));
        _pendingEvents = events.ConvertAll(e => e.Event);
        _pendingRevision = newRevision;
        return new TxnResult(succeeded, newRevision, results);
    }

    private WatchEvent DeleteRow(SqliteTransaction tx, byte[] keyBytes, string key, Row prev, long newRevision)
    {
        var tombstone = new KeyValue(key, [], 0, newRevision, 0, 0);
        InsertRow(tx, keyBytes, tombstone, deleted: true);
        return new WatchEvent(WatchEventType.Delete, tombstone, prev.ToKeyValue(key));
    }

    /// <summary>
    /// Runs <paramref name="body"/> in one SQLite transaction on the writer connection, then
    /// (only once it is durably committed) advances the revision and hands its events to the
    /// watchers. Callers hold the write lock, so publishing here is ordered with every
    /// watcher's registration: a watcher sees each revision either in its replay or live.
    /// </summary>
    private T Write<T>(Func<SqliteTransaction, T> body)
    {
        _pendingEvents = null;
        T result;
        try
        {
            using var tx = _writer.BeginTransaction(deferred: false);
            result = body(tx);
            tx.Commit();
        }
        catch (SqliteException ex)
        {
            _pendingEvents = null;
            throw new StoreUnavailableException($"the SQLite store at '{FilePath}' failed to write: {ex.Message}; check disk space and permissions", ex);
        }
        catch
        {
            _pendingEvents = null;
            throw;
        }

        if (_pendingEvents is { } events)
        {
            _pendingEvents = null;
            Interlocked.Exchange(ref _revision, _pendingRevision);
            Publish(events);
        }

        return result;
    }

    private T Read<T>(Func<SqliteConnection, SqliteTransaction, T> body)
    {
        try
        {
            using var conn = new SqliteConnection(_connectionString);
            conn.Open();

            // A deferred transaction reads one consistent snapshot of the WAL: the revision
            // counters and the rows come from the same moment.
            using var tx = conn.BeginTransaction(deferred: true);
            var result = body(conn, tx);
            tx.Commit();
            return result;
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"the SQLite store at '{FilePath}' failed to read: {ex.Message}", ex);
        }
    }

    private static long ResolveRevision(SqliteConnection conn, SqliteTransaction tx, long requested)
    {
        var current = GetMeta(conn, tx, "revision");
        var compacted = GetMeta(conn, tx, "compact_revision");
        if (requested == 0)
        {
            return current;
        }

        if (requested > current)
        {
            throw new FutureRevisionException(requested, current);
        }

        if (requested < compacted)
        {
            throw new RevisionCompactedException(requested, compacted);
        }

        return requested;
    }

    private bool Holds(SqliteTransaction tx, Compare compare)
    {
        var row = ReadLatest(_writer, tx, KeyBytes.Of(compare.Key), long.MaxValue);
        var live = row is { Deleted: false } ? row : null;
        return compare switch
        {
            ModRevisionCompare m => (live?.Revision ?? 0) == m.Expected,
            ValueCompare v => live is not null && live.Value.AsSpan().SequenceEqual(v.Expected),
            _ => throw new ArgumentException($"unknown comparison {compare.GetType().Name}", nameof(compare)),
        };
    }

    private void InsertRow(SqliteTransaction tx, byte[] keyBytes, KeyValue kv, bool deleted) =>
        Exec(_writer, tx,
            "INSERT INTO kv_log (revision, key, deleted, create_revision, version, lease, value) VALUES ($rev, $key, $del, $crev, $ver, $lease, $value);",
            ("$rev", kv.ModRevision), ("$key", keyBytes), ("$del", deleted ? 1 : 0), ("$crev", kv.CreateRevision), ("$ver", kv.Version), ("$lease", kv.Lease), ("$value", kv.Value));

    private static Row? ReadLatest(SqliteConnection conn, SqliteTransaction tx, byte[] keyBytes, long atRevision)
    {
        using var cmd = Command(conn, tx,
            "SELECT revision, deleted, create_revision, version, lease, value FROM kv_log WHERE key = $key AND revision <= $at ORDER BY revision DESC LIMIT 1;",
            ("$key", keyBytes), ("$at", atRevision));
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? ReadRow(reader, 0) : null;
    }

    private static List<KeyValue> ListLive(SqliteConnection conn, SqliteTransaction tx, byte[] prefix, long atRevision, int limit) =>
        ListLiveRows(conn, tx, prefix, atRevision, limit).ConvertAll(r => r.Row.ToKeyValue(KeyBytes.ToKey(r.Key)));

    private static List<(byte[] Key, Row Row)> ListLiveRows(SqliteConnection conn, SqliteTransaction tx, byte[] prefix, long atRevision, int limit)
    {
        var end = KeyBytes.PrefixEnd(prefix);

        // SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum,
        // so this is "the latest row per key at or before the revision".
        using var cmd = Command(conn, tx,
            $"""
            SELECT key, rev, deleted, create_revision, version, lease, value FROM (
              SELECT key, MAX(revision) AS rev, deleted, create_revision, version, lease, value
              FROM kv_log
              WHERE key >= $lo {(end is null ? "" : "AND key < $hi")} AND revision <= $at
              GROUP BY key)
            WHERE deleted = 0
            ORDER BY key
            LIMIT $limit;
            """,
            ("$lo", prefix), ("$hi", (object?)end ?? DBNull.Value), ("$at", atRevision), ("$limit", limit));
        using var reader = cmd.ExecuteReader();
        var rows = new List<(byte[], Row)>();
        while (reader.Read())
        {
            rows.Add((reader.GetFieldValue<byte[]>(0), ReadRow(reader, 1)));
        }

        return rows;
    }

    private static Row ReadRow(SqliteDataReader reader, int offset) => new(
        reader.GetInt64(offset),
        reader.GetInt64(offset + 1) != 0,
        reader.GetInt64(offset + 2),
        reader.GetInt64(offset + 3),
        reader.GetInt64(offset + 4),
        reader.GetFieldValue<byte[]>(offset + 5));

    private static void CreateSchema(SqliteConnection conn)
    {
        using var tx = conn.BeginTransaction(deferred: false);
        Exec(conn, tx,
            """
            CREATE TABLE IF NOT EXISTS meta (
              name  TEXT PRIMARY KEY,
              value INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS kv_log (
              revision        INTEGER NOT NULL,
              key             BLOB    NOT NULL,
              deleted         INTEGER NOT NULL,
              create_revision INTEGER NOT NULL,
              version         INTEGER NOT NULL,
              lease           INTEGER NOT NULL,
              value           BLOB    NOT NULL,
              PRIMARY KEY (revision, key)
            ) WITHOUT ROWID;
            CREATE UNIQUE INDEX IF NOT EXISTS kv_log_key_revision ON kv_log (key, revision);
            CREATE INDEX IF NOT EXISTS kv_log_lease ON kv_log (lease) WHERE lease != 0;
            CREATE TABLE IF NOT EXISTS leases (
              id     INTEGER PRIMARY KEY,
              ttl_ms INTEGER NOT NULL
            );
            INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', $schema);
            INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1);
            INSERT OR IGNORE INTO meta (name, value) VALUES ('compact_revision', 0);
            INSERT OR IGNORE INTO meta (name, value) VALUES ('lease_sequence', 0);
            """,
            ("$schema", SchemaVersion));
        var schema = GetMeta(conn, tx, "schema_version");
        if (schema != SchemaVersion)
        {
            throw new StateStoreException($"the SQLite store has schema version {schema}, this build reads version {SchemaVersion}; use the matching orc-control-plane version");
        }

        tx.Commit();
    }

    private void LoadState()
    {
        using var tx = _writer.BeginTransaction(deferred: true);
        _revision = GetMeta(_writer, tx, "revision");
        _compactRevision = GetMeta(_writer, tx, "compact_revision");
        _leaseSequence = GetMeta(_writer, tx, "lease_sequence");
        using (var cmd = Command(_writer, tx, "SELECT id, ttl_ms FROM leases;"))
        using (var reader = cmd.ExecuteReader())
        {
            var now = _time.GetUtcNow();
            while (reader.Read())
            {
                var ttl = TimeSpan.FromMilliseconds(reader.GetInt64(1));
                _leases[reader.GetInt64(0)] = new LeaseState(ttl, now + ttl);
            }
        }

        tx.Commit();
        lock (_leaseGate)
        {
            ScheduleLeaseTimer();
        }
    }

    private static long GetMeta(SqliteConnection conn, SqliteTransaction? tx, string name)
    {
        using var cmd = Command(conn, tx, "SELECT value FROM meta WHERE name = $name;", ("$name", name));
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private void SetMeta(SqliteTransaction tx, string name, long value) =>
        Exec(_writer, tx, "UPDATE meta SET value = $value WHERE name = $name;", ("$name", name), ("$value", value));

    private static int Exec(SqliteConnection conn, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(conn, tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    private static SqliteCommand Command(SqliteConnection conn, SqliteTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        // Every statement here is a constant of this class; values travel as parameters.
#pragma warning disable CA2100
        cmd.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd;
    }

    /// <summary>One row of the log: a put, or a delete (tombstone) of a key.</summary>
    private sealed record Row(long Revision, bool Deleted, long CreateRevision, long Version, long Lease, byte[] Value)
    {
        public KeyValue ToKeyValue(string key) => new(key, Value, CreateRevision, Revision, Version, Lease);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "Opened SQLite store {Path} at revision {Revision} (compacted through {CompactRevision}, {Leases} leases restored with a full TTL)")]
        public static partial void Opened(ILogger logger, string path, long revision, long compactRevision, int leases);

        [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Compacted the SQLite store to revision {Revision}: {Rows} history rows removed")]
        public static partial void Compacted(ILogger logger, long revision, int rows);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Debug, Message = "Lease {LeaseId} expired: {Keys} keys deleted")]
        public static partial void LeaseExpired(ILogger logger, long leaseId, int keys);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Error, Message = "Expiring leases failed; retrying on the next lease deadline")]
        public static partial void LeaseExpiryFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 1104, Level = LogLevel.Debug, Message = "A watcher of {Prefix} fell behind; it catches up from the log at revision {Revision}")]
        public static partial void WatcherLagged(ILogger logger, string prefix, long revision);
    }
}
