using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;

namespace Orchestrator.ControlPlane.Tests.Store;

public sealed class StateStoreFactoryTests
{
    [Theory]
    [InlineData("sqlite://orc-data/state.db", StoreKind.Sqlite, "orc-data/state.db")]
    [InlineData("sqlite:///var/lib/orc/state.db", StoreKind.Sqlite, "/var/lib/orc/state.db")]
    [InlineData("etcd://10.0.0.5:2379", StoreKind.Etcd, "10.0.0.5:2379")]
    [InlineData("etcd://a:2379,b:22379,c", StoreKind.Etcd, "a:2379,b:22379,c")]
    public void A_store_address_names_its_kind_and_target(string address, StoreKind kind, string target)
    {
        Assert.Equal((kind, target), StateStoreFactory.Parse(address));
    }

    [Theory]
    [InlineData("postgres://db/orc", "is not a store address")]
    [InlineData("./state.db", "is not a store address")]
    [InlineData("", "the store is empty")]
    [InlineData("sqlite://", "names no database file")]
    [InlineData("sqlite://data/", "names no database file")]
    [InlineData("etcd://", "has no endpoints")]
    [InlineData("etcd://host:notaport", "is not a number from 1 to 65535")]
    [InlineData("etcd://host:70000", "is not a number from 1 to 65535")]
    [InlineData("etcd://http://host:2379", "without a scheme")]
    [InlineData("etcd://a:2379,,b:2379", "empty entry")]
    public void A_bad_store_address_is_refused_with_what_is_wrong_and_the_accepted_forms(string address, string why)
    {
        var error = Assert.Throws<ArgumentException>(() => StateStoreFactory.Parse(address));

        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        if (why.StartsWith("is not a store", StringComparison.Ordinal) || why.StartsWith("the store is empty", StringComparison.Ordinal))
        {
            Assert.Contains(address, error.Message, StringComparison.Ordinal);
            Assert.Contains(StateStoreFactory.AcceptedForms, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Etcd_endpoints_without_a_port_use_2379()
    {
        var endpoints = EtcdStateStore.ParseEndpoints("a, b:2380");

        Assert.Equal(["http://a:2379/", "http://b:2380/"], endpoints.Select(e => e.ToString()));
    }

    [Fact]
    public async Task An_absolute_sqlite_address_opens_a_durable_store_at_that_path()
    {
        using var dir = new TempDirectory("orc-factory");
        var path = dir.File("nested/state.db");

        await using (var store = await StateStoreFactory.OpenAsync("sqlite://" + path, cancellationToken: TestContext.Current.CancellationToken))
        {
            Assert.IsType<SqliteStateStore>(store);
            Assert.Equal("sqlite://" + path, store.Description);
            await store.TxnAsync(Txn.Unconditional(TxnOp.Put("/f/x", [1])), TestContext.Current.CancellationToken);
        }

        await using var reopened = await StateStoreFactory.OpenAsync("sqlite://" + path, cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotNull((await reopened.GetAsync("/f/x", cancellationToken: TestContext.Current.CancellationToken)).Kv);
    }
}
