using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Objects;

public sealed class MessageStoreTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orc-messages");
    private SqliteStateStore? _store;

    private MessageStore Messages => new(_store!);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _store = await SqliteStateStore.OpenAsync(_dir.File("state.db"), cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task A_write_guarded_by_a_stale_mod_revision_writes_nothing()
    {
        var key = StoreKeys.ServiceStatus("web");
        var created = await Messages.PutAsync(key, new ServiceStatus { ReadyReplicas = 1 }, expectedModRevision: 0, cancellationToken: Ct);
        Assert.NotNull(created);
        var read = await Messages.GetAsync<ServiceStatus>(key, Ct);
        Assert.Equal((1, created.Value), (read!.Value.ReadyReplicas, read.ModRevision));

        Assert.NotNull(await Messages.PutAsync(key, new ServiceStatus { ReadyReplicas = 2 }, read.ModRevision, cancellationToken: Ct));
        Assert.Null(await Messages.PutAsync(key, new ServiceStatus { ReadyReplicas = 3 }, read.ModRevision, cancellationToken: Ct));
        Assert.Null(await Messages.PutAsync(key, new ServiceStatus { ReadyReplicas = 4 }, expectedModRevision: 0, cancellationToken: Ct));

        Assert.Equal(2, (await Messages.GetAsync<ServiceStatus>(key, Ct))!.Value.ReadyReplicas);
        Assert.False(await Messages.DeleteAsync(key, read.ModRevision, Ct));
        Assert.True(await Messages.DeleteAsync(key, (await Messages.GetAsync<ServiceStatus>(key, Ct))!.ModRevision, Ct));
        Assert.Null(await Messages.GetAsync<ServiceStatus>(key, Ct));
    }

    [Fact]
    public async Task A_list_returns_only_keys_one_name_deep_under_the_prefix()
    {
        await Messages.PutAsync(StoreKeys.ServiceRevision("web", 1), new ServiceRevision { Revision = 1 }, 0, cancellationToken: Ct);
        await Messages.PutAsync(StoreKeys.Service("web"), new Service { Revision = 1 }, 0, cancellationToken: Ct);
        await Messages.PutAsync(StoreKeys.Service("web2"), new Service { Revision = 2 }, 0, cancellationToken: Ct);

        var (items, revision) = await Messages.ListAsync<Service>(StoreKeys.ServicesPrefix, cancellationToken: Ct);

        Assert.Equal([StoreKeys.Service("web"), StoreKeys.Service("web2")], items.Select(i => i.Key));
        Assert.Equal(await _store!.GetRevisionAsync(Ct), revision);
    }
}
