using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Orchestrator.ControlPlane.Store;

public sealed partial class SqliteStateStore
{
    /// <summary>
    /// How many revisions a watcher may have queued before it is moved off the live feed and
    /// made to catch up from the log (as etcd does with slow watchers), so one slow consumer
    /// never holds up writers nor grows memory without bound.
    /// </summary>
    internal const int WatchQueueCapacity = 1024;

    /// <summary>Watchers currently fed live events (for tests that check a cancelled watch lets go).</summary>
    internal int LiveWatcherCount => _subscribers.Count;

    /// <summary>
    /// A watch is a loop of two phases. Registration (under the write lock) records the current
    /// revision C and starts queueing every later revision's events. The replay then reads
    /// revisions [next, C] from one snapshot of the log, and the live phase drains the queue
    /// (revisions > C). Nothing falls between the two and nothing appears in both. A watcher
    /// whose queue overflows is dropped from the live feed and goes round the loop again from
    /// the revision after the last one it delivered.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        KeyBytes.ValidateRevision(fromRevision, nameof(fromRevision));
        var prefixBytes = KeyBytes.Of(prefix);
        var next = fromRevision;

        while (true)
        {
            var subscriber = new WatchSubscriber(prefix);
            long upTo;
            await _writeLock.WaitAsync(cancellationToken);
            try
            {
                ThrowIfDisposed();
                upTo = _revision;
                if (next == 0)
                {
                    next = upTo + 1;
                }

                if (next < _compactRevision)
                {
                    throw new RevisionCompactedException(next, _compactRevision);
                }

                _subscribers.TryAdd(subscriber, 0);
            }
            finally
            {
                _writeLock.Release();
            }

            try
            {
                if (next <= upTo)
                {
                    await foreach (var e in ReplayAsync(prefixBytes, next, upTo, cancellationToken))
                    {
                        yield return e;
                    }

                    next = upTo + 1;
                }

                await foreach (var batch in subscriber.Reader.ReadAllAsync(cancellationToken))
                {
                    var revision = batch[0].Revision;
                    if (revision < next)
                    {
                        continue;
                    }

                    foreach (var e in batch)
                    {
                        yield return e;
                    }

                    next = revision + 1;
                }

                if (!subscriber.Lagged)
                {
                    // The store was disposed: the watch ends.
                    yield break;
                }

                Log.WatcherLagged(_logger, prefix, next);
            }
            finally
            {
                _subscribers.TryRemove(subscriber, out _);
            }
        }
    }

    private async IAsyncEnumerable<WatchEvent> ReplayAsync(byte[] prefix, long from, long to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var end = KeyBytes.PrefixEnd(prefix);
        SqliteConnection conn;
        SqliteTransaction tx;
        SqliteCommand cmd;
        SqliteDataReader reader;
        try
        {
            conn = new SqliteConnection(_connectionString);
            conn.Open();
            tx = conn.BeginTransaction(deferred: true);

            // The compaction point and the rows come from one snapshot, so a compaction that
            // commits while this replay runs cannot remove rows from under it.
            var compacted = GetMeta(conn, tx, "compact_revision");
            if (from < compacted)
            {
                tx.Dispose();
                conn.Dispose();
                throw new RevisionCompactedException(from, compacted);
            }

            cmd = Command(conn, tx,
                $"""
                SELECT l.revision, l.key, l.deleted, l.create_revision, l.version, l.lease, l.value,
                       p.revision, p.deleted, p.create_revision, p.version, p.lease, p.value
                FROM kv_log l
                LEFT JOIN kv_log p
                  ON p.key = l.key
                 AND p.revision = (SELECT MAX(q.revision) FROM kv_log q WHERE q.key = l.key AND q.revision < l.revision)
                WHERE l.revision >= $from AND l.revision <= $to
                  AND l.key >= $lo {(end is null ? "" : "AND l.key < $hi")}
                ORDER BY l.revision, l.key;
                """,
                ("$from", from), ("$to", to), ("$lo", prefix), ("$hi", (object?)end ?? DBNull.Value));
            reader = cmd.ExecuteReader();
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"the SQLite store at '{FilePath}' failed to read history: {ex.Message}", ex);
        }

        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                WatchEvent e;
                try
                {
                    if (!reader.Read())
                    {
                        break;
                    }

                    var key = KeyBytes.ToKey(reader.GetFieldValue<byte[]>(1));
                    var row = new Row(reader.GetInt64(0), reader.GetInt64(2) != 0, reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetFieldValue<byte[]>(6));
                    KeyValue? prev = null;
                    if (!reader.IsDBNull(7) && reader.GetInt64(8) == 0)
                    {
                        prev = ReadRow(reader, 7).ToKeyValue(key);
                    }

                    e = row.Deleted
                        ? new WatchEvent(WatchEventType.Delete, new KeyValue(key, [], 0, row.Revision, 0, 0), prev)
                        : new WatchEvent(WatchEventType.Put, row.ToKeyValue(key), prev);
                }
                catch (SqliteException ex)
                {
                    throw new StoreUnavailableException($"the SQLite store at '{FilePath}' failed to read history: {ex.Message}", ex);
                }

                yield return e;
            }
        }
        finally
        {
            await reader.DisposeAsync();
            await cmd.DisposeAsync();
            await tx.DisposeAsync();
            await conn.DisposeAsync();
        }
    }

    /// <summary>Hands one committed revision's events to every watcher whose prefix they fall under. Called under the write lock.</summary>
    private void Publish(List<WatchEvent> events)
    {
        foreach (var subscriber in _subscribers.Keys)
        {
            WatchEvent[]? batch = null;
            var count = 0;
            foreach (var e in events)
            {
                if (e.Kv.Key.StartsWith(subscriber.Prefix, StringComparison.Ordinal))
                {
                    batch ??= new WatchEvent[events.Count];
                    batch[count++] = e;
                }
            }

            if (batch is null)
            {
                continue;
            }

            if (count < batch.Length)
            {
                Array.Resize(ref batch, count);
            }

            if (!subscriber.TryWrite(batch))
            {
                _subscribers.TryRemove(subscriber, out _);
                subscriber.Close(lagged: true);
            }
        }
    }

    private sealed class WatchSubscriber(string prefix)
    {
        private readonly Channel<WatchEvent[]> _channel = Channel.CreateBounded<WatchEvent[]>(
            new BoundedChannelOptions(WatchQueueCapacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

        public string Prefix { get; } = prefix;

        public ChannelReader<WatchEvent[]> Reader => _channel.Reader;

        /// <summary>Set when the watcher was dropped for falling behind (it must catch up from the log), not because the store closed.</summary>
        public bool Lagged { get; private set; }

        public bool TryWrite(WatchEvent[] batch) => _channel.Writer.TryWrite(batch);

        public void Close(bool lagged)
        {
            Lagged = lagged;
            _channel.Writer.TryComplete();
        }
    }
}
