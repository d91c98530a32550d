using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace Orchestrator.NodeAgent.Proxy.Http;

/// <summary>
/// The HTTP side of the mesh: a Kestrel server of its own (never the agent's <c>/healthz</c> app)
/// running YARP, fed through YARP's in-memory configuration. It starts with the first HTTP route.
/// </summary>
/// <remarks>
/// Passive health (YARP's <c>TransportFailureRate</c> policy): an endpoint is set aside when, over
/// the last <see cref="FailureWindow"/>, at least <see cref="FailureMinimumRequests"/> requests went
/// to it and more than <see cref="FailureRateLimit"/> of them failed in transport (refused, reset,
/// timed out); it comes back after <see cref="MeshYarpConfig.ReactivationPeriod"/>. When every
/// endpoint is set aside, all are tried (YARP's <c>HealthyOrPanic</c>).
/// </remarks>
public sealed class YarpHttpMesh : IHttpMesh
{
    public static readonly TimeSpan FailureWindow = TimeSpan.FromSeconds(10);
    public const int FailureMinimumRequests = 3;
    public const double FailureRateLimit = 0.5;

    private readonly IPAddress _address;
    private readonly MeshMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly AppliedConfigSignal _applied = new();
    private MeshPortListeners? _listeners;
    private WebApplication? _app;
    private InMemoryConfigProvider? _config;

    public YarpHttpMesh(IPAddress address, MeshMetrics metrics, TimeProvider time, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _address = address;
        _metrics = metrics;
        _time = time;
        _loggerFactory = loggerFactory;
    }

    /// <summary>How long to wait for YARP to apply a configuration before giving up on this apply.</summary>
    public TimeSpan ApplyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public async ValueTask<IReadOnlyDictionary<int, string>> ApplyAsync(IReadOnlyCollection<MeshRoute> routes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(routes);
        if (_app is null)
        {
            if (routes.Count == 0)
            {
                return new Dictionary<int, string>();
            }

            await StartAsync(cancellationToken).ConfigureAwait(false);
        }

        var listeners = _listeners!;
        var wanted = routes.ToDictionary(r => r.Published);
        var failures = new Dictionary<int, string>();

        // Gone ports first: their sockets close, every other port's stays as it is.
        foreach (var port in listeners.Ports.Where(p => !wanted.ContainsKey(p)).ToList())
        {
            await listeners.ClosePortAsync(port).ConfigureAwait(false);
        }

        // New ports are bound before their routes exist but accept only once the routes are applied.
        foreach (var port in wanted.Keys.Where(p => !listeners.IsBound(p)))
        {
            try
            {
                await listeners.BindPortAsync(new IPEndPoint(_address, port), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AddressInUseException or SocketException or IOException)
            {
                failures[port] = e.Message;
            }
        }

        var (routeConfigs, clusters) = MeshYarpConfig.Build(wanted.Values.Where(r => listeners.IsBound(r.Published)));
        await ApplyConfigAsync(routeConfigs, clusters, cancellationToken).ConfigureAwait(false);
        // Every bound port accepts (a no-op for those that already do; a port bound by an apply whose
        // configuration step failed starts here, once a configuration that routes it is in effect).
        foreach (var port in listeners.Ports)
        {
            listeners.Accept(port);
        }

        return failures;
    }

    private async Task ApplyConfigAsync(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters, CancellationToken cancellationToken)
    {
        var config = _config!;
        var waiter = _applied.Expect(() =>
        {
            config.Update(routes, clusters);
            return config.GetConfig();
        });
        await waiter.WaitAsync(ApplyTimeout, _time, cancellationToken).ConfigureAwait(false);
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "orc-mesh",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(_loggerFactory));

        // YARP logs every proxied request at Information; the mesh's own metrics count them instead.
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);

        var listeners = new MeshPortListeners(_loggerFactory);
        builder.Services.AddSingleton(_time);
        builder.Services.AddSingleton(_metrics);
        builder.Services.AddSingleton<IConnectionListenerFactory>(listeners);
        builder.Services.AddSingleton<MatcherPolicy, LocalPortMatcherPolicy>();
        builder.Services.AddSingleton<IConfigChangeListener>(_applied);
        builder.Services.AddSingleton<MeshProxyPipeline>();
        builder.Services.Configure<TransportFailureRateHealthPolicyOptions>(o =>
        {
            o.DetectionWindowSize = FailureWindow;
            o.MinimalTotalCountThreshold = FailureMinimumRequests;
            o.DefaultFailureRateLimit = FailureRateLimit;
        });
        builder.Services.AddReverseProxy().LoadFromMemory([], []);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(new MeshPortsEndPoint(), lo => lo.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        var pipeline = app.Services.GetRequiredService<MeshProxyPipeline>();
        app.UseRouting();
        app.MapReverseProxy(proxy =>
        {
            proxy.Use(pipeline.MeasureAsync);
            proxy.UseLoadBalancing();
            proxy.Use(pipeline.RetryConnectFailureAsync);
            proxy.UsePassiveHealthChecks();
        });

        // Endpoints run here, before the fallback below (WebApplication would otherwise add them last).
        app.UseEndpoints(_ => { });

        // A request on a port whose route is gone (a keep-alive connection that outlived its service).
        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync(
                $"503 no service: nothing is published on port {context.Connection.LocalPort} of this node any more; see orc get services\n",
                context.RequestAborted);
        });

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _config = app.Services.GetRequiredService<InMemoryConfigProvider>();
        _listeners = listeners;
        _app = app;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }

        if (_listeners is { } listeners)
        {
            _listeners = null;
            await listeners.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Completes a wait once YARP reports the configuration it was given as applied.</summary>
    private sealed class AppliedConfigSignal : IConfigChangeListener
    {
        private readonly Lock _gate = new();
        private IProxyConfig? _applied;
        private (IProxyConfig Config, TaskCompletionSource Done)? _waiting;

        /// <summary>Runs <paramref name="update"/> (which returns the new config) and returns a task done when that config is applied.</summary>
        public Task Expect(Func<IProxyConfig> update)
        {
            lock (_gate)
            {
                var config = update();
                if (ReferenceEquals(_applied, config))
                {
                    return Task.CompletedTask;
                }

                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting = (config, done);
                return done.Task;
            }
        }

        public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
        {
            lock (_gate)
            {
                _applied = proxyConfigs.Count > 0 ? proxyConfigs[0] : null;
                if (_waiting is { } waiting && ReferenceEquals(waiting.Config, _applied))
                {
                    _waiting = null;
                    waiting.Done.TrySetResult();
                }
            }
        }

        public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) => Fail(exception);

        public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) => Fail(exception);

        public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
        {
        }

        private void Fail(Exception exception)
        {
            lock (_gate)
            {
                if (_waiting is { } waiting)
                {
                    _waiting = null;
                    waiting.Done.TrySetException(new InvalidOperationException($"the mesh's proxy configuration was rejected: {exception.Message}", exception));
                }
            }
        }
    }

    /// <summary>Sends the mesh server's logs to the agent's loggers (its filters apply too).</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory target) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => target.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}
