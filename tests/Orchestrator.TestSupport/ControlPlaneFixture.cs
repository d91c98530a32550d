using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.TestSupport;

/// <summary>
/// A control plane hosted in the test process on ephemeral loopback ports, over a real
/// store (by default a <see cref="SqliteStateStore"/> in a temp dir), with a gRPC client.
/// Dispose stops it, closes the store and deletes the temp dir.
/// </summary>
public sealed class ControlPlaneFixture : IAsyncDisposable
{
    private readonly TempDirectory _dir;

    private ControlPlaneFixture(TempDirectory dir, WebApplication app, GrpcChannel channel)
    {
        _dir = dir;
        App = app;
        Channel = channel;
        Client = new Cluster.ClusterClient(channel);
    }

    public WebApplication App { get; }

    public GrpcChannel Channel { get; }

    public Cluster.ClusterClient Client { get; }

    /// <summary>The store the control plane uses (writes here are seen by the API, as a controller's would be).</summary>
    public IStateStore Store => App.Services.GetRequiredService<IStateStore>();

    public Uri GrpcUrl => App.Endpoints().GrpcUrl;

    public Uri HttpUrl => App.Endpoints().HttpUrl;

    /// <summary>The fixture's temp dir (the SQLite file lives here unless another store was given).</summary>
    public string DataDirectory => _dir.Path;

    /// <param name="openStore">Opens the store to use, given the temp dir; null opens SQLite at <c>state.db</c> in it.</param>
    /// <param name="controllers">
    /// Whether the controllers and placement run. Off by default, so tests of the API see
    /// exactly what they wrote; on, they act on what the test writes as a real control plane would.
    /// </param>
    /// <param name="configure">Last changes to the host (a <c>TimeProvider</c>, <c>ControllerOptions</c>, ...).</param>
    public static async Task<ControlPlaneFixture> StartAsync(
        Func<string, CancellationToken, Task<IStateStore>>? openStore = null,
        string memberId = "test-cp",
        bool controllers = false,
        Action<WebApplicationBuilder>? configure = null,
        CancellationToken cancellationToken = default)
    {
        var dir = new TempDirectory("orc-cp");
        WebApplication? app = null;
        try
        {
            var store = openStore is null
                ? await SqliteStateStore.OpenAsync(dir.File("state.db"), cancellationToken: cancellationToken)
                : await openStore(dir.Path, cancellationToken);
            var options = new ControlPlaneOptions { Listen = "127.0.0.1:0", HttpListen = "127.0.0.1:0", Store = store.Description, MemberId = memberId };
            app = await ControlPlaneApp.BuildAsync(
                options,
                store,
                b =>
                {
                    b.Logging.SetMinimumLevel(LogLevel.Warning);
                    if (!controllers)
                    {
                        b.Services.AddSingleton(new ControllerOptions { Enabled = false });
                    }

                    configure?.Invoke(b);
                },
                cancellationToken);
            await app.StartAsync(cancellationToken);
            var channel = GrpcChannel.ForAddress(app.Endpoints().GrpcUrl);
            return new ControlPlaneFixture(dir, app, channel);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            dir.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
            _dir.Dispose();
        }
    }
}
