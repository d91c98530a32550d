using Microsoft.Extensions.Hosting;

namespace Orchestrator.NodeAgent.Proxy;

/// <summary>Closes the mesh's listeners when the agent stops (after the node stream, which stops first).</summary>
public sealed class RoutingMeshHost(RoutingMesh mesh) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => mesh.DisposeAsync().AsTask();
}
