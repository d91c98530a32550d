using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// The keys of the job controller: job names. A job spec change enqueues its name; a
/// replica change (spec or status) enqueues its owner's name, so a replica that ended moves
/// the job on. Replicas of deleted jobs are listed too, so they are stopped and deleted
/// after a restart.
/// </summary>
public sealed class JobControllerSource(IStateStore store) : IControllerSource<string>
{
    // Names that are (or were) jobs here: a replica status change only names its replica, and
    // most replicas belong to services, whose passes here would each list every replica for nothing.
    private readonly ConcurrentDictionary<string, byte> _jobNames = new(StringComparer.Ordinal);

    public string WatchPrefix => StoreKeys.Root;

    public async Task<(IReadOnlyCollection<string> Keys, long Revision)> ListKeysAsync(CancellationToken cancellationToken)
    {
        var jobs = await store.ListAsync(StoreKeys.JobsPrefix, 0, 0, cancellationToken);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in jobs.Items)
        {
            var name = StoreKeys.NameOf(kv.Key, StoreKeys.JobsPrefix);
            if (!name.Contains('/', StringComparison.Ordinal))
            {
                keys.Add(name);
            }
        }

        var replicas = await ServiceReconciler.ReadReplicasAsync(store, jobs.Revision, r => r.Spec.Owner?.Kind == JobReconciler.OwnerKind, cancellationToken);
        foreach (var replica in replicas)
        {
            keys.Add(replica.Replica.Spec.Owner.Name);
        }

        foreach (var key in keys)
        {
            _jobNames.TryAdd(key, 0);
        }

        return (keys, jobs.Revision);
    }

    public IEnumerable<string> KeysOf(Store.WatchEvent change)
    {
        var key = change.Kv.Key;
        if (StoreKeys.TryNameOf(key, StoreKeys.JobsPrefix, out var job))
        {
            _jobNames.TryAdd(job, 0);
            yield return job;
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.ReplicasPrefix, out var id))
        {
            var value = change.Type == Store.WatchEventType.Put ? change.Kv : change.PrevKv;
            if (OwnerOf(value) is { } owner)
            {
                _jobNames.TryAdd(owner, 0);
                yield return owner;
            }
            else if (value is null && ReplicaIds.OwnerOf(id) is { } guessed && _jobNames.ContainsKey(guessed))
            {
                yield return guessed;
            }
        }
        else if (StoreKeys.TryNameOf(key, StoreKeys.ReplicaStatusPrefix, out var statusId) && ReplicaIds.OwnerOf(statusId) is { } owner && _jobNames.ContainsKey(owner))
        {
            // Ids are <job>-<suffix>; a cut (very long) name is healed by the resync.
            yield return owner;
        }
    }

    private static string? OwnerOf(KeyValue? kv)
    {
        if (kv is null || kv.Value.Length == 0)
        {
            return null;
        }

        try
        {
            var replica = ProtoJson.Decode<Replica>(kv.Value, kv.Key);
            return replica.Spec?.Owner is { Kind: JobReconciler.OwnerKind } owner ? owner.Name : null;
        }
        catch (InvalidStoredObjectException)
        {
            return null;
        }
    }
}

/// <summary>Runs the job controller for the lifetime of the host (when <see cref="ControllerOptions.Enabled"/>).</summary>
public sealed class JobController(
    IStateStore store,
    TimeProvider time,
    ControllerOptions options,
    EventRecorder events,
    ILoggerFactory loggers) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        var reconciler = new JobReconciler(store, time, options, events, loggers.CreateLogger<JobReconciler>());
        using var host = new ControllerHost<string>(reconciler, new JobControllerSource(store), store, time, options, options.JobWorkers, loggers.CreateLogger<JobController>());
        await host.RunAsync(stoppingToken);
    }
}
