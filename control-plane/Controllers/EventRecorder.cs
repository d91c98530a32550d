using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// Writes events (<c>/orc/events/&lt;id&gt;</c>) that expire by themselves: each is put with a
/// store lease. One lease is granted per minute of event time, with a TTL of the event TTL
/// plus one minute, and shared by every event of that minute: a busy minute costs one lease,
/// not one per event, and every event lives at least the event TTL.
/// Recording is best effort: a failure is logged, never thrown into the caller's decision.
/// </summary>
public sealed partial class EventRecorder(IStateStore store, TimeProvider time, ControllerOptions options, ILogger<EventRecorder> logger)
{
    private readonly Lock _lock = new();
    private long _bucket = -1;
    private long _leaseId;

    /// <summary>Records an event about <paramref name="kind"/>/<paramref name="name"/> and returns its id (null if it could not be stored).</summary>
    public async Task<string?> RecordAsync(string kind, string name, EventType type, string reason, string message, string source, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var id = $"{name}.{now.ToUnixTimeMilliseconds():x}.{RandomSuffix()}";
        var e = new Event
        {
            Id = id,
            Time = Timestamp.FromDateTimeOffset(now),
            Object = new ObjectRef { Kind = kind, Name = name },
            Type = type,
            Reason = reason,
            Message = message,
            Source = source,
        };
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                var lease = await LeaseForAsync(now, renew: attempt > 0, cancellationToken);
                await store.TxnAsync(Txn.Unconditional(TxnOp.Put(StoreKeys.Event(id), ProtoJson.Encode(e), lease)), cancellationToken);
                return id;
            }
            catch (LeaseNotFoundException)
            {
                // The minute's lease is gone (revoked, or the store lost it): grant a new one once.
            }
            catch (StateStoreException ex)
            {
                LogEventFailed(logger, reason, name, ex.Message);
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// Records many events in as few store transactions as <paramref name="maxOpsPerTxn"/> allows
    /// (placement records one per binding, thousands a second). Best effort, like <see cref="RecordAsync"/>.
    /// </summary>
    public async Task RecordManyAsync(IReadOnlyList<EventDraft> drafts, int maxOpsPerTxn, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(drafts);
        if (drafts.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow();
        var at = Timestamp.FromDateTimeOffset(now);
        var puts = new List<(string Key, byte[] Value)>(drafts.Count);
        foreach (var d in drafts)
        {
            var id = $"{d.Name}.{now.ToUnixTimeMilliseconds():x}.{RandomSuffix()}";
            var e = new Event { Id = id, Time = at, Object = new ObjectRef { Kind = d.Kind, Name = d.Name }, Type = d.Type, Reason = d.Reason, Message = d.Message, Source = d.Source };
            puts.Add((StoreKeys.Event(id), ProtoJson.Encode(e)));
        }

        foreach (var chunk in puts.Chunk(Math.Max(1, maxOpsPerTxn)))
        {
            for (var attempt = 0; attempt < 2; attempt++)
            {
                try
                {
                    var lease = await LeaseForAsync(now, renew: attempt > 0, cancellationToken);
                    await store.TxnAsync(new Txn([], [.. chunk.Select(p => TxnOp.Put(p.Key, p.Value, lease))], []), cancellationToken);
                    break;
                }
                catch (LeaseNotFoundException)
                {
                    // The minute's lease is gone: grant a new one once.
                }
                catch (StateStoreException ex)
                {
                    LogEventFailed(logger, drafts[0].Reason, $"{chunk.Length} objects", ex.Message);
                    return;
                }
            }
        }
    }

    private async Task<long> LeaseForAsync(DateTimeOffset now, bool renew, CancellationToken cancellationToken)
    {
        var bucket = now.ToUnixTimeSeconds() / 60;
        lock (_lock)
        {
            if (!renew && bucket == _bucket)
            {
                return _leaseId;
            }
        }

        var lease = await store.GrantLeaseAsync(options.EventTtl + TimeSpan.FromMinutes(1), cancellationToken);
        lock (_lock)
        {
            _bucket = bucket;
            _leaseId = lease.Id;
        }

        return lease.Id;
    }

    private static string RandomSuffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    [LoggerMessage(EventId = 1310, Level = LogLevel.Warning, Message = "Could not record event {Reason} for {Name}: {Error}")]
    private static partial void LogEventFailed(ILogger logger, string reason, string name, string error);
}

/// <summary>An event to record: about <see cref="Kind"/>/<see cref="Name"/>, in plain words.</summary>
public sealed record EventDraft(string Kind, string Name, EventType Type, string Reason, string Message, string Source);
