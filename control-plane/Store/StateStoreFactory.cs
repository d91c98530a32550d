using Microsoft.Extensions.Logging;

namespace Orchestrator.ControlPlane.Store;

/// <summary>
/// Opens the store a connection string names (the control plane's <c>--store</c>):
/// <list type="bullet">
/// <item><c>sqlite://relative/path/state.db</c> (relative to the working directory) or <c>sqlite:///abs/path/state.db</c>: the embedded store.</item>
/// <item><c>etcd://host:2379[,host2:2379...]</c>: an etcd cluster.</item>
/// </list>
/// </summary>
public static class StateStoreFactory
{
    public const string AcceptedForms = "sqlite://relative/path/state.db, sqlite:///absolute/path/state.db or etcd://host:2379[,host2:2379...]";

    public static async Task<IStateStore> OpenAsync(string connectionString, TimeProvider? time = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        return Parse(connectionString) switch
        {
            (StoreKind.Sqlite, var path) => await SqliteStateStore.OpenAsync(path, time, logger, cancellationToken),
            (_, var endpoints) => await EtcdStateStore.ConnectAsync(endpoints, logger, cancellationToken),
        };
    }

    /// <summary>Splits a connection string into the kind of store and its target (a file path, or etcd's endpoint list), or throws saying what is wrong.</summary>
    public static (StoreKind Kind, string Target) Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ArgumentException($"the store is empty; give one of {AcceptedForms}", nameof(connectionString));
        }

        var s = connectionString.Trim();
        if (s.StartsWith("sqlite://", StringComparison.OrdinalIgnoreCase))
        {
            // sqlite://a/b.db is relative, sqlite:///a/b.db keeps its leading '/' and is absolute.
            var path = s["sqlite://".Length..];
            if (path.Length == 0 || path.EndsWith('/'))
            {
                throw new ArgumentException($"store '{connectionString}' names no database file; give one of {AcceptedForms}", nameof(connectionString));
            }

            return (StoreKind.Sqlite, path);
        }

        if (s.StartsWith("etcd://", StringComparison.OrdinalIgnoreCase))
        {
            var endpoints = s["etcd://".Length..];
            _ = EtcdStateStore.ParseEndpoints(endpoints);
            return (StoreKind.Etcd, endpoints);
        }

        throw new ArgumentException($"store '{connectionString}' is not a store address; give one of {AcceptedForms}", nameof(connectionString));
    }
}

public enum StoreKind
{
    Sqlite,
    Etcd,
}
