using System.Globalization;
using System.Runtime.CompilerServices;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using EtcdLeaseClient = Etcdserverpb.Lease.LeaseClient;
using EtcdWatchClient = Etcdserverpb.Watch.WatchClient;

namespace Orchestrator.ControlPlane.Store;

/// <summary>
/// The production store: a thin mapping of <see cref="IStateStore"/> onto etcd's v3 API
/// (dotnet-etcd). Every call is one etcd request; revisions, compares, watches and leases are
/// etcd's own. gRPC failures to reach etcd surface as <see cref="StoreUnavailableException"/>.
/// </summary>
public sealed partial class EtcdStateStore : IStateStore
{
    private const int DefaultPort = 2379;

    // A range over every key: etcd reads key "\0" with range_end "\0" as "from the smallest key, unbounded".
    private static readonly ByteString AllKeys = ByteString.CopyFrom(0);

    private readonly EtcdClient _client;
    private readonly EtcdWatchClient _watchClient;
    private readonly EtcdLeaseClient _leaseClient;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closing = new();

    private EtcdStateStore(string endpoints, IReadOnlyList<Uri> uris, ILogger logger)
    {
        Description = "etcd://" + endpoints;
        _logger = logger;
        // A list of a big cluster (150,000 replicas) is far over gRPC's default 4 MiB response limit.
        _client = new EtcdClient(string.Join(',', uris.Select(u => u.ToString().TrimEnd('/'))), configureChannelOptions: o => o.MaxReceiveMessageSize = null);
        var connection = _client.GetConnection();
        _watchClient = connection.WatchClient;
        _leaseClient = connection.LeaseClient;
    }

    public string Description { get; }

    /// <summary>
    /// Connects to etcd at <paramref name="endpoints"/> (<c>host:port[,host:port...]</c>, port 2379 if omitted)
    /// and checks that it answers, so a wrong address fails at start with a clear message.
    /// </summary>
    public static async Task<EtcdStateStore> ConnectAsync(string endpoints, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        var store = Create(endpoints, logger);
        try
        {
            var revision = await store.GetRevisionAsync(cancellationToken);
            Log.Connected(store._logger, store.Description, revision);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates the client without contacting etcd (the first call connects).</summary>
    public static EtcdStateStore Create(string endpoints, ILogger? logger = null) =>
        new(endpoints.Trim(), ParseEndpoints(endpoints), logger ?? NullLogger.Instance);

    /// <summary>
    /// Parses <c>host:port[,host:port...]</c> (what follows <c>etcd://</c>) into HTTP endpoints,
    /// or throws saying which entry is wrong and how to write it.
    /// </summary>
    public static IReadOnlyList<Uri> ParseEndpoints(string endpoints)
    {
        if (string.IsNullOrWhiteSpace(endpoints))
        {
            throw new ArgumentException("etcd store has no endpoints; write etcd://host:2379[,host2:2379...]", nameof(endpoints));
        }

        var result = new List<Uri>();
        foreach (var raw in endpoints.Split(','))
        {
            var entry = raw.Trim();
            if (entry.Length == 0)
            {
                throw new ArgumentException($"etcd endpoints '{endpoints}' hold an empty entry; write etcd://host:2379[,host2:2379...]", nameof(endpoints));
            }

            if (entry.Contains("://", StringComparison.Ordinal) || entry.Contains('/', StringComparison.Ordinal))
            {
                throw new ArgumentException($"etcd endpoint '{entry}' must be host:port without a scheme or path, e.g. etcd://10.0.0.5:2379", nameof(endpoints));
            }

            string host;
            var port = DefaultPort;
            var colon = entry.LastIndexOf(':');
            var bracketed = entry.StartsWith('[');
            if (colon > 0 && (!bracketed || entry[colon - 1] == ']'))
            {
                host = entry[..colon];
                var portText = entry[(colon + 1)..];
                if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                {
                    throw new ArgumentException($"etcd endpoint '{entry}' has port '{portText}', which is not a number from 1 to 65535", nameof(endpoints));
                }
            }
            else
            {
                host = entry;
            }

            if (host.Length == 0 || Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown)
            {
                throw new ArgumentException($"etcd endpoint '{entry}' has no valid host; write host:port, e.g. etcd://127.0.0.1:2379", nameof(endpoints));
            }

            result.Add(new Uri($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}"));
        }

        return result;
    }

    public async Task<long> GetRevisionAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await _client.GetAsync(new RangeRequest { Key = AllKeys, CountOnly = true, Limit = 1 }, cancellationToken: cancellationToken);
            return response.Header.Revision;
        }
        catch (RpcException ex)
        {
            throw Map(ex, "read the revision");
        }
    }

    public async Task<GetResult> GetAsync(string key, long atRevision = 0, CancellationToken cancellationToken = default)
    {
        KeyBytes.ValidateKey(key, nameof(key));
        KeyBytes.ValidateRevision(atRevision, nameof(atRevision));
        RangeResponse response;
        try
        {
            response = await _client.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key), Revision = atRevision }, cancellationToken: cancellationToken);
        }
        catch (RpcException ex)
        {
            throw await MapReadAsync(ex, atRevision, $"read '{key}'", cancellationToken);
        }

        var at = atRevision == 0 ? response.Header.Revision : atRevision;
        return new GetResult(response.Kvs.Count > 0 ? ToKeyValue(response.Kvs[0]) : null, at);
    }

    public async Task<ListResult> ListAsync(string prefix, long atRevision = 0, int limit = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        KeyBytes.ValidateRevision(atRevision, nameof(atRevision));
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var (key, end) = Range(prefix);
        RangeResponse response;
        try
        {
            response = await _client.GetAsync(new RangeRequest { Key = key, RangeEnd = end, Revision = atRevision, Limit = limit }, cancellationToken: cancellationToken);
        }
        catch (RpcException ex)
        {
            throw await MapReadAsync(ex, atRevision, $"list '{prefix}'", cancellationToken);
        }

        var items = new KeyValue[response.Kvs.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = ToKeyValue(response.Kvs[i]);
        }

        return new ListResult(items, atRevision == 0 ? response.Header.Revision : atRevision, response.More);
    }

    public async Task<TxnResult> TxnAsync(Txn txn, CancellationToken cancellationToken = default)
    {
        KeyBytes.ValidateTxn(txn);
        if (txn.If.Count == 0 && txn.Then.Count == 1 && txn.Then[0] is PutOp single)
        {
            return await PutAsync(single, cancellationToken);
        }

        var request = new TxnRequest();
        foreach (var compare in txn.If)
        {
            request.Compare.Add(compare switch
            {
                ModRevisionCompare m => new Etcdserverpb.Compare
                {
                    Key = ByteString.CopyFromUtf8(m.Key),
                    Target = Etcdserverpb.Compare.Types.CompareTarget.Mod,
                    Result = Etcdserverpb.Compare.Types.CompareResult.Equal,
                    ModRevision = m.Expected,
                },
                ValueCompare v => new Etcdserverpb.Compare
                {
                    Key = ByteString.CopyFromUtf8(v.Key),
                    Target = Etcdserverpb.Compare.Types.CompareTarget.Value,
                    Result = Etcdserverpb.Compare.Types.CompareResult.Equal,
                    Value = ByteString.CopyFrom(v.Expected),
                },
                _ => throw new ArgumentException($"unknown comparison {compare.GetType().Name}", nameof(txn)),
            });
        }

        AddOps(request.Success, txn.Then);
        AddOps(request.Failure, txn.Else);

        TxnResponse response;
        try
        {
            response = await _client.TransactionAsync(request, cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && IsLeaseNotFound(ex))
        {
            var lease = txn.Then.Concat(txn.Else).OfType<PutOp>().Select(p => p.Lease).FirstOrDefault(l => l != 0);
            throw new LeaseNotFoundException(lease);
        }
        catch (RpcException ex)
        {
            throw Map(ex, "run a transaction");
        }

        var results = new OpResult[response.Responses.Count];
        for (var i = 0; i < results.Length; i++)
        {
            var op = response.Responses[i];
            results[i] = op.ResponseCase switch
            {
                ResponseOp.ResponseOneofCase.ResponseRange => new OpResult(op.ResponseRange.Kvs.Count > 0 ? ToKeyValue(op.ResponseRange.Kvs[0]) : null, 0),
                ResponseOp.ResponseOneofCase.ResponseDeleteRange => new OpResult(null, (int)op.ResponseDeleteRange.Deleted),
                _ => new OpResult(null, 0),
            };
        }

        return new TxnResult(response.Succeeded, response.Header.Revision, results);
    }

    /// <summary>An unconditional single put is etcd's plain Put: the same result, without a transaction's overhead.</summary>
    private async Task<TxnResult> PutAsync(PutOp put, CancellationToken cancellationToken)
    {
        PutResponse response;
        try
        {
            response = await _client.PutAsync(
                new PutRequest { Key = ByteString.CopyFromUtf8(put.Key), Value = ByteString.CopyFrom(put.Value), Lease = put.Lease },
                cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && IsLeaseNotFound(ex))
        {
            throw new LeaseNotFoundException(put.Lease);
        }
        catch (RpcException ex)
        {
            throw Map(ex, $"put '{put.Key}'");
        }

        return new TxnResult(true, response.Header.Revision, [new OpResult(null, 0)]);
    }

    /// <summary>
    /// One gRPC watch stream per call, read directly: the sequence ends with the stream, a
    /// compaction cancels it with <see cref="RevisionCompactedException"/>, and a lost etcd
    /// surfaces as <see cref="StoreUnavailableException"/> instead of a silent reconnect.
    /// </summary>
    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        WatchCoreAsync(prefix, fromRevision, includePrevious: false, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchWithPreviousAsync(string prefix, long fromRevision = 0, CancellationToken cancellationToken = default) =>
        WatchCoreAsync(prefix, fromRevision, includePrevious: true, cancellationToken);

    private async IAsyncEnumerable<WatchEvent> WatchCoreAsync(string prefix, long fromRevision, bool includePrevious, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        KeyBytes.ValidateRevision(fromRevision, nameof(fromRevision));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        var token = linked.Token;
        var (key, end) = Range(prefix);
        using var call = _watchClient.Watch(cancellationToken: token);
        try
        {
            await call.RequestStream.WriteAsync(
                new WatchRequest { CreateRequest = new WatchCreateRequest { Key = key, RangeEnd = end, StartRevision = fromRevision, PrevKv = includePrevious } },
                token);
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or InvalidOperationException)
        {
            if (_closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                yield break;
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw ex is RpcException rpc ? Map(rpc, $"watch '{prefix}'") : new StoreUnavailableException($"etcd at {Description} refused the watch of '{prefix}': {ex.Message}", ex);
        }

        var stream = call.ResponseStream;
        while (true)
        {
            bool moved;
            try
            {
                moved = await stream.MoveNext(token);
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException)
            {
                if (_closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    yield break;
                }

                cancellationToken.ThrowIfCancellationRequested();
                throw ex is RpcException rpc ? Map(rpc, $"watch '{prefix}'") : new StoreUnavailableException($"the watch of '{prefix}' on {Description} was interrupted", ex);
            }

            if (!moved)
            {
                throw new StoreUnavailableException($"etcd at {Description} closed the watch of '{prefix}'; watch again from the revision after the last event seen");
            }

            var response = stream.Current;
            if (response.CompactRevision > 0)
            {
                throw new RevisionCompactedException(fromRevision, response.CompactRevision);
            }

            if (response.Canceled)
            {
                throw new StateStoreException($"etcd cancelled the watch of '{prefix}': {response.CancelReason}");
            }

            if (response.Events.Count == 1)
            {
                yield return ToWatchEvent(response.Events[0]);
                continue;
            }

            foreach (var e in InKeyOrder(response.Events))
            {
                yield return ToWatchEvent(e);
            }
        }
    }

    public async Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "a lease TTL must be positive, e.g. 10s");
        }

        // etcd counts TTLs in whole seconds (and may raise a short one to its minimum).
        var seconds = (long)Math.Ceiling(ttl.TotalSeconds);
        LeaseGrantResponse response;
        try
        {
            response = await _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = seconds }, cancellationToken: cancellationToken);
        }
        catch (RpcException ex)
        {
            throw Map(ex, "grant a lease");
        }

        if (!string.IsNullOrEmpty(response.Error))
        {
            throw new StateStoreException($"etcd refused to grant a lease of {seconds}s: {response.Error}");
        }

        return new Lease(response.ID, TimeSpan.FromSeconds(response.TTL));
    }

    public async Task<Lease> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        // etcd renews on a stream; one request and one answer make a single renewal.
        LeaseKeepAliveResponse response;
        try
        {
            using var call = _leaseClient.LeaseKeepAlive(cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }, cancellationToken);
            if (!await call.ResponseStream.MoveNext(cancellationToken))
            {
                throw new StoreUnavailableException($"etcd at {Description} closed the keep-alive of lease {leaseId} without an answer");
            }

            response = call.ResponseStream.Current;
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException ex)
        {
            throw Map(ex, $"keep lease {leaseId} alive");
        }

        if (response.TTL <= 0)
        {
            throw new LeaseNotFoundException(leaseId);
        }

        return new Lease(leaseId, TimeSpan.FromSeconds(response.TTL));
    }

    public async Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        try
        {
            await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            // Revoking a lease that is already gone is not an error.
        }
        catch (RpcException ex)
        {
            throw Map(ex, $"revoke lease {leaseId}");
        }
    }

    public async Task CompactAsync(long revision, CancellationToken cancellationToken = default)
    {
        if (revision <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(revision), revision, "compact to a positive store revision, at most the current one");
        }

        try
        {
            await _client.CompactAsync(new CompactionRequest { Revision = revision }, cancellationToken: cancellationToken);
        }
        catch (RpcException ex)
        {
            throw await MapReadAsync(ex, revision, $"compact to revision {revision}", cancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_closing.IsCancellationRequested)
        {
            _closing.Cancel();
            _client.Dispose();
            _closing.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private static (ByteString Key, ByteString End) Range(string prefix)
    {
        if (prefix.Length == 0)
        {
            return (AllKeys, AllKeys);
        }

        var bytes = KeyBytes.Of(prefix);
        var end = KeyBytes.PrefixEnd(bytes);
        return (ByteString.CopyFrom(bytes), end is null ? AllKeys : ByteString.CopyFrom(end));
    }

    private static void AddOps(Google.Protobuf.Collections.RepeatedField<RequestOp> target, IReadOnlyList<TxnOp> ops)
    {
        foreach (var op in ops)
        {
            target.Add(op switch
            {
                PutOp put => new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(put.Key), Value = ByteString.CopyFrom(put.Value), Lease = put.Lease } },
                DeleteOp delete => new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(delete.Key) } },
                DeletePrefixOp deletePrefix => DeletePrefixRequest(deletePrefix.Prefix),
                GetOp get => new RequestOp { RequestRange = new RangeRequest { Key = ByteString.CopyFromUtf8(get.Key) } },
                _ => throw new ArgumentException($"unknown operation {op.GetType().Name}", nameof(ops)),
            });
        }
    }

    private static RequestOp DeletePrefixRequest(string prefix)
    {
        var (key, end) = Range(prefix);
        return new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = key, RangeEnd = end } };
    }

    /// <summary>
    /// etcd sends a transaction's events in the order of its operations, all in one response
    /// (it never splits a revision across responses unless asked to fragment); the contract
    /// promises key order within a revision, so sort when a response is not already in it.
    /// </summary>
    private static IReadOnlyList<Mvccpb.Event> InKeyOrder(Google.Protobuf.Collections.RepeatedField<Mvccpb.Event> events)
    {
        for (var i = 1; i < events.Count; i++)
        {
            if (CompareEvents(events[i - 1], events[i]) > 0)
            {
                var sorted = events.ToArray();
                Array.Sort(sorted, CompareEvents);
                return sorted;
            }
        }

        return events;
    }

    private static int CompareEvents(Mvccpb.Event a, Mvccpb.Event b)
    {
        var byRevision = a.Kv.ModRevision.CompareTo(b.Kv.ModRevision);
        return byRevision != 0 ? byRevision : a.Kv.Key.Span.SequenceCompareTo(b.Kv.Key.Span);
    }

    private static KeyValue ToKeyValue(Mvccpb.KeyValue kv) =>
        new(kv.Key.ToStringUtf8(), kv.Value.ToByteArray(), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease);

    private static WatchEvent ToWatchEvent(Mvccpb.Event e) => new(
        e.Type == Mvccpb.Event.Types.EventType.Delete ? WatchEventType.Delete : WatchEventType.Put,
        ToKeyValue(e.Kv),
        e.PrevKv is null ? null : ToKeyValue(e.PrevKv));

    private static bool IsLeaseNotFound(RpcException ex) => ex.Status.Detail.Contains("lease not found", StringComparison.OrdinalIgnoreCase);

    private StateStoreException Map(RpcException ex, string what) => ex.StatusCode switch
    {
        StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown =>
            new StoreUnavailableException($"could not {what}: etcd at {Description} is unreachable ({ex.Status.Detail}); check that etcd runs and that --store names it", ex),
        StatusCode.Cancelled => new StoreUnavailableException($"could not {what}: the call to etcd at {Description} was cancelled ({ex.Status.Detail})", ex),
        _ => new StateStoreException($"could not {what}: etcd at {Description} answered {ex.StatusCode}: {ex.Status.Detail}", ex),
    };

    /// <summary>Turns etcd's "compacted" and "future revision" errors into the store's own, with the revisions that explain them.</summary>
    private async Task<StateStoreException> MapReadAsync(RpcException ex, long requested, string what, CancellationToken cancellationToken)
    {
        if (ex.StatusCode == StatusCode.OutOfRange)
        {
            if (ex.Status.Detail.Contains("compacted", StringComparison.OrdinalIgnoreCase))
            {
                return new RevisionCompactedException(requested, await FindCompactRevisionAsync(requested, cancellationToken));
            }

            if (ex.Status.Detail.Contains("future", StringComparison.OrdinalIgnoreCase))
            {
                return new FutureRevisionException(requested, await GetRevisionAsync(cancellationToken));
            }
        }

        return Map(ex, what);
    }

    /// <summary>
    /// etcd's "compacted" error does not say where history starts; find it as the oldest
    /// revision a read still succeeds at (a binary search, only on this error path).
    /// </summary>
    private async Task<long> FindCompactRevisionAsync(long compactedRevision, CancellationToken cancellationToken)
    {
        var low = compactedRevision + 1;
        var high = await GetRevisionAsync(cancellationToken);
        while (low < high)
        {
            var mid = low + ((high - low) / 2);
            try
            {
                await _client.GetAsync(new RangeRequest { Key = AllKeys, CountOnly = true, Limit = 1, Revision = mid }, cancellationToken: cancellationToken);
                high = mid;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.OutOfRange)
            {
                low = mid + 1;
            }
        }

        return low;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Connected to {Store} at revision {Revision}")]
        public static partial void Connected(ILogger logger, string store, long revision);
    }
}
