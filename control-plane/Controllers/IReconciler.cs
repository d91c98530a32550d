namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// One controller's decision for one key: read the current state by key (never trust a
/// watch event's payload), act on the difference with compare-and-swap writes, and say
/// whether to look again later. Level-triggered: a pass after a missed event, a restart or
/// a lost write race must reach the same result.
/// </summary>
/// <typeparam name="TKey">What one pass is about (a service name, a replica id, a fixed key for a whole-cluster pass).</typeparam>
public interface IReconciler<in TKey>
{
    /// <summary>A short name for logs and metrics: <c>service</c>, <c>placement</c>.</summary>
    string Name { get; }

    /// <exception cref="Exception">Any failure: the work queue retries the key with backoff.</exception>
    Task<ReconcileResult> ReconcileAsync(TKey key, CancellationToken cancellationToken);
}

/// <summary>
/// Where a controller's keys come from: every key that exists (the initial list and each
/// resync), and which keys a store change touches (a watch event only enqueues keys).
/// </summary>
public interface IControllerSource<TKey>
{
    /// <summary>The store prefix to watch; every change under it is passed to <see cref="KeysOf"/>.</summary>
    string WatchPrefix { get; }

    /// <summary>Every key to reconcile now, and the store revision the list was read at (the watch starts after it).</summary>
    Task<(IReadOnlyCollection<TKey> Keys, long Revision)> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>The keys a change concerns (often none).</summary>
    IEnumerable<TKey> KeysOf(Store.WatchEvent change);
}

/// <summary>
/// A store write lost a compare-and-swap race: someone changed what the decision read.
/// The pass is retried from fresh reads (with the queue's backoff), never forced.
/// </summary>
public sealed class ReconcileConflictException(string message) : Exception(message);
