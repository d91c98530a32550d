using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Hosting;

/// <summary>
/// Builds a ready-to-run control plane: <c>orc-control-plane</c>, <c>orc dev</c> and tests
/// all host it the same way. Kestrel gets two endpoints (docs/adr/0004-grpc-and-http-ports.md):
/// gRPC on an HTTP/2-only endpoint (h2c, prior knowledge) and the HTTP/1.1 endpoint for
/// health and metrics. Stopping the app (SIGTERM, Ctrl-C, StopAsync) stops accepting,
/// ends open watch streams with UNAVAILABLE, and disposes the store.
/// </summary>
public static partial class ControlPlaneApp
{
    /// <param name="store">An open store to use (the app takes ownership); null opens <see cref="ControlPlaneOptions.Store"/>.</param>
    /// <param name="configure">Last changes to the builder (logging, extra services) before it is built.</param>
    /// <exception cref="FormatException">A listen address is malformed; the message names the flag and the fix.</exception>
    /// <exception cref="ArgumentException">The store connection string is malformed.</exception>
    /// <exception cref="StoreUnavailableException">The store cannot be opened or reached.</exception>
    public static async Task<WebApplication> BuildAsync(
        ControlPlaneOptions options,
        IStateStore? store = null,
        Action<WebApplicationBuilder>? configure = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ListenAddress grpc;
        ListenAddress http;
        try
        {
            grpc = ListenAddress.Parse(options.Listen, "--listen");
            http = ListenAddress.Parse(options.HttpListen, "--http-listen");
            if (grpc.Port != 0 && grpc.Port == http.Port)
            {
                throw new FormatException($"--listen and --http-listen both use port {grpc.Port}; gRPC (HTTP/2) and HTTP/1.1 need separate ports, for example --listen 127.0.0.1:7070 --http-listen 127.0.0.1:7071");
            }
        }
        catch (FormatException) when (store is not null)
        {
            // The app owns a store it is given, also when it never gets built.
            await store.DisposeAsync();
            throw;
        }

        store ??= await OpenStoreAsync(options.Store, TimeProvider.System, cancellationToken);
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                ApplicationName = "orc-control-plane",
                ContentRootPath = AppContext.BaseDirectory,
            });
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });

            // One line at start (ours, with both endpoints and the store) instead of the host's five.
            builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

            var endpoints = new ControlPlaneEndpoints();
            builder.Services.AddSingleton(endpoints);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Listen(grpc.Address, grpc.Port, lo =>
                {
                    lo.Protocols = HttpProtocols.Http2;
                    endpoints.GrpcListen = lo;
                });
                k.Listen(http.Address, http.Port, lo =>
                {
                    lo.Protocols = HttpProtocols.Http1;
                    endpoints.HttpListen = lo;
                });
            });

            builder.Services.AddControlPlane(options, store);
            configure?.Invoke(builder);

            var app = builder.Build();
            app.MapControlPlane();
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Orchestrator.ControlPlane");
            app.Lifetime.ApplicationStarted.Register(() =>
                LogListening(logger, endpoints.Grpc.ToString(), endpoints.Http.ToString(), store.Description, options.MemberId));
            app.Lifetime.ApplicationStopping.Register(() => LogStopping(logger));
            return app;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Opens the store a connection string names (<c>sqlite://path</c>, creating its folder, or
    /// <c>etcd://host:port,...</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is malformed.</exception>
    /// <exception cref="StateStoreException">The store cannot be opened or reached.</exception>
    public static Task<IStateStore> OpenStoreAsync(string connectionString, TimeProvider time, CancellationToken cancellationToken = default) =>
        StateStoreFactory.OpenAsync(connectionString, time, null, cancellationToken);

    /// <summary>The endpoints of an app built by <see cref="BuildAsync"/>, as bound once it has started.</summary>
    public static ControlPlaneEndpoints Endpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<ControlPlaneEndpoints>();
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "orc-control-plane listening: gRPC on {Grpc} (HTTP/2), health and metrics on http://{Http} (HTTP/1.1); store {Store}; member {MemberId}")]
    private static partial void LogListening(ILogger logger, string grpc, string http, string store, string memberId);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "orc-control-plane stopping: no new calls, open watch streams end, then the store closes")]
    private static partial void LogStopping(ILogger logger);
}
