using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// Placement's one key: any change to a node (spec or status) or a replica (spec or status)
/// asks for a pass, because each may make room or need it. The queue folds a burst of
/// changes into one pass.
/// </summary>
public sealed class PlacementControllerSource(IStateStore store) : IControllerSource<string>
{
    private static readonly string[] Prefixes = [StoreKeys.NodesPrefix, StoreKeys.NodeStatusPrefix, StoreKeys.ReplicasPrefix, StoreKeys.ReplicaStatusPrefix];

    public string WatchPrefix => StoreKeys.Root;

    public async Task<(IReadOnlyCollection<string> Keys, long Revision)> ListKeysAsync(CancellationToken cancellationToken) =>
        ([PlacementReconciler.ClusterKey], await store.GetRevisionAsync(cancellationToken));

    public IEnumerable<string> KeysOf(WatchEvent change)
    {
        var key = change.Kv.Key;
        if (Prefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
        {
            yield return PlacementReconciler.ClusterKey;
        }
    }
}

/// <summary>Runs placement for the lifetime of the host (when <see cref="ControllerOptions.Enabled"/>), with one worker.</summary>
public sealed class PlacementController(
    IStateStore store,
    IPlacer placer,
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

        var reconciler = new PlacementReconciler(store, placer, time, events, loggers.CreateLogger<PlacementReconciler>());
        using var host = new ControllerHost<string>(reconciler, new PlacementControllerSource(store), store, time, options, workers: 1, loggers.CreateLogger<PlacementController>());
        await host.RunAsync(stoppingToken);
    }
}
