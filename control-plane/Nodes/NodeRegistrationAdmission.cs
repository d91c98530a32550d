namespace Orchestrator.ControlPlane.Nodes;

/// <summary>
/// Admits node registrations a few at a time (<see cref="NodeStreamOptions.ConcurrentRegistrations"/>),
/// like a kube-apiserver's max-in-flight limit: a registration waits its turn instead of
/// competing with thousands of others for the store until every one of them times out.
/// </summary>
public sealed class NodeRegistrationAdmission(NodeStreamOptions options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.ConcurrentRegistrations));

    /// <summary>Registrations being written right now.</summary>
    public int InFlight => Math.Max(1, options.ConcurrentRegistrations) - _slots.CurrentCount;

    public Task WaitAsync(CancellationToken cancellationToken) => _slots.WaitAsync(cancellationToken);

    public void Release() => _slots.Release();

    public void Dispose() => _slots.Dispose();
}
