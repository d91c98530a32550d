using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Store;

/// <summary>What only the etcd store has to prove: a lost etcd is reported as such.</summary>
public sealed class EtcdStateStoreTests
{
    [Fact]
    public async Task Connecting_where_no_etcd_listens_fails_with_StoreUnavailableException_naming_the_address()
    {
        var endpoint = $"127.0.0.1:{FreePort.Next()}";

        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => EtcdStateStore.ConnectAsync(endpoint, cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains(endpoint, error.Message, StringComparison.Ordinal);
        Assert.Contains("check that etcd runs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_watch_ends_with_StoreUnavailableException_when_etcd_dies()
    {
        var ct = TestContext.Current.CancellationToken;
        var etcd = await EtcdProcess.StartAsync(ct);
        try
        {
            await using var store = await EtcdStateStore.ConnectAsync(etcd.Endpoint, cancellationToken: ct);
            await using var watch = store.WatchAsync("/dies/", 0, ct).GetAsyncEnumerator(ct);
            var pending = watch.MoveNextAsync().AsTask();
            await store.TxnAsync(Txn.Unconditional(TxnOp.Put("/dies/x", [1])), ct);
            Assert.True(await pending);

            var next = watch.MoveNextAsync().AsTask();
            System.Diagnostics.Process.GetProcessById(etcd.ProcessId).Kill();

            await Assert.ThrowsAsync<StoreUnavailableException>(() => next);
        }
        finally
        {
            await etcd.DisposeAsync();
        }
    }
}
