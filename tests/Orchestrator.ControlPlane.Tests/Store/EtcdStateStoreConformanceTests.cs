using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Store;

/// <summary>
/// The conformance suite on a real etcd process, one per class; tests in a class run one at
/// a time and each uses its own key prefix. Leases run on etcd's real clock with its minimum TTL.
/// </summary>
public sealed class EtcdStateStoreConformanceTests(EtcdFixture etcd) : StateStoreConformanceTests, IClassFixture<EtcdFixture>
{
    // etcd 3.4 raises shorter TTLs to its minimum (1.5x the election timeout, rounded up): 2s by default.
    protected override TimeSpan LeaseTtl => TimeSpan.FromSeconds(2);

    protected override async Task<IStateStore> OpenStoreAsync() =>
        await EtcdStateStore.ConnectAsync(etcd.Require().Endpoint, cancellationToken: Guard());

    protected override Task PassTimeAsync(TimeSpan duration) => Task.Delay(duration, TimeProvider.System, TestContext.Current.CancellationToken);
}
