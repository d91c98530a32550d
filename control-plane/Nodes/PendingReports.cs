using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// One agent's replica reports waiting to be written, in arrival order, at most one per replica:
/// a newer report of a replica that still waits replaces it in its place. Only the latest state
/// of a replica matters to its status; when the store is slow, a replica that went Starting,
/// Running, Ready while it waited is written once, as Ready.
/// </summary>
public sealed class PendingReports(int capacity) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Queue<string> _order = new();
    private readonly Dictionary<string, ReplicaReport> _latest = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _available = new(0);
    private bool _completed;

    /// <summary>How many replicas have a report waiting.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _latest.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="report"/>; false when <c>capacity</c> replicas already wait (nothing is queued).</summary>
    public bool Add(ReplicaReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        lock (_gate)
        {
            if (_latest.ContainsKey(report.ReplicaId))
            {
                _latest[report.ReplicaId] = report;
                return true;
            }

            if (_latest.Count >= capacity)
            {
                return false;
            }

            _latest[report.ReplicaId] = report;
            _order.Enqueue(report.ReplicaId);
        }

        _available.Release();
        return true;
    }

    /// <summary>No more reports come (the agent ended its stream): <see cref="NextAsync"/> returns null once the queue is empty.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
        }

        _available.Release();
    }

    /// <summary>The oldest waiting replica's latest report, waiting for one if none waits; null after <see cref="Complete"/> and the last one.</summary>
    public async Task<ReplicaReport?> NextAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken);
            lock (_gate)
            {
                if (_order.TryDequeue(out var id))
                {
                    _latest.Remove(id, out var report);
                    return report;
                }

                if (_completed)
                {
                    // Leave the completion signal for any later call.
                    _available.Release();
                    return null;
                }
            }
        }
    }

    public void Dispose() => _available.Dispose();
}
