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
        // A guard against hanging the run, far above any expected duration.
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        guard.CancelAfter(TimeSpan.FromSeconds(60));
        var ct = guard.Token;
        var etcd = await EtcdProcess.StartAsync(ct);
        try
        {
            await using var store = await EtcdStateStore.ConnectAsync(etcd.Endpoint, cancellationToken: ct);

            // From an explicit revision: a watch "from now" is set up by etcd after the call
            // returns, and the put below may get in first (then the watch would wait forever).
            var from = await store.GetRevisionAsync(ct) + 1;
            await using var watch = store.WatchAsync("/dies/", from, ct).GetAsyncEnumerator(ct);
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
