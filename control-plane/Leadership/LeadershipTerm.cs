namespace Orchestrator.ControlPlane.Leadership;

/// <summary>
/// One uninterrupted period during which this control plane holds the leader key. Work that
/// only the leader may do runs with <see cref="Token"/>, which is cancelled the moment the term
/// ends (lease lost, key deleted, a fenced write refused, or shutdown). A term never restarts:
/// winning again is a new term with a new <see cref="Revision"/>.
/// </summary>
public sealed class LeadershipTerm : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _endReason;

    internal LeadershipTerm(long revision, long leaseId, DateTimeOffset since)
    {
        Revision = revision;
        LeaseId = leaseId;
        Since = since;
    }

    /// <summary>The leader key's create revision: the fencing token every fenced write compares.</summary>
    public long Revision { get; }

    /// <summary>The store lease the leader key is bound to.</summary>
    public long LeaseId { get; }

    /// <summary>When this control plane won the term.</summary>
    public DateTimeOffset Since { get; }

    /// <summary>Cancelled when the term ends.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Whether the term has ended.</summary>
    public bool HasEnded => _ended.Task.IsCompleted;

    /// <summary>Completes when the term ends.</summary>
    public Task Ended => _ended.Task;

    /// <summary>Why the term ended, null while it lasts.</summary>
    public string? EndReason => Volatile.Read(ref _endReason);

    /// <summary>Ends the term (once; later calls do nothing) and cancels <see cref="Token"/>. Returns whether this call ended it.</summary>
    internal bool End(string reason)
    {
        if (Interlocked.CompareExchange(ref _endReason, reason, null) is not null)
        {
            return false;
        }

        try
        {
            _cts.Cancel();
        }
        finally
        {
            _ended.TrySetResult();
        }

        return true;
    }

    public void Dispose() => _cts.Dispose();
}
