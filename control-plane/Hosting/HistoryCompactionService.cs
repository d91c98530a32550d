using Microsoft.Extensions.Hosting;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Hosting;

/// <summary>Runs the <see cref="HistoryCompactor"/> for the lifetime of the host.</summary>
internal sealed class HistoryCompactionService(HistoryCompactor compactor) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => compactor.RunAsync(stoppingToken);
}
