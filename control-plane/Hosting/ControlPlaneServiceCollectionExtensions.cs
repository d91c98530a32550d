using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orchestrator.ControlPlane.Api;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Leadership;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Telemetry;

namespace Orchestrator.ControlPlane.Hosting;

/// <summary>Registers and maps the control plane in any ASP.NET Core host (its own executable, or <c>orc dev</c>).</summary>
public static class ControlPlaneServiceCollectionExtensions
{
    /// <summary>
    /// Adds the cluster API, the object layer over <paramref name="store"/>, health and
    /// telemetry. The host owns the store from here on: it is disposed when the host is.
    /// OTLP export is on only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    public static IServiceCollection AddControlPlane(this IServiceCollection services, ControlPlaneOptions options, IStateStore store)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<ControlPlaneTelemetry>();

        // Created by a factory so the container disposes it (and the store inside) at shutdown.
        services.AddSingleton<IStateStore>(sp => new InstrumentedStateStore(store, sp.GetRequiredService<ControlPlaneTelemetry>()));
        services.AddSingleton<ClusterObjects>();
        services.AddSingleton<SpecApplier>();
        services.AddSingleton<ObjectCommands>();
        services.AddSingleton<NodeCommands>();
        services.AddSingleton<RolloutCommands>();
        services.AddSingleton<ObjectWatcher>();

        // Compaction is leader-only: one control plane compacts however many share the store.
        services.TryAddSingleton(new HistoryCompactorOptions());
        services.AddSingleton<HistoryCompactor>();
        services.AddSingleton<HistoryCompactionService>();

        // The node stream (agents) and the logs relay.
        services.TryAddSingleton(options.NodeGrace is { } grace ? new NodeStreamOptions { NodeGrace = grace } : new NodeStreamOptions());
        services.AddSingleton<NodeSessionRegistry>();
        services.AddSingleton<NodeStatusWriter>();
        services.AddSingleton<ReplicaReportWriter>();
        services.AddSingleton<AssignmentFeed>();
        services.AddSingleton<EndpointsFeed>();
        services.AddSingleton<EndpointsAckWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<EndpointsAckWriter>());
        services.AddSingleton<NodeRegistrationAdmission>();
        services.AddSingleton<NodeConnection>();
        services.AddSingleton<LogsRelay>();
        services.AddSingleton<NodeLivenessWatcher>();

        // Controllers and placement (docs/adr/0013-controllers-work-queue.md); a host may register its own ControllerOptions.
        services.TryAddSingleton(new ControllerOptions { EventTtl = options.EventTtl, FinishedReplicaRetention = options.JobReplicaRetention, DrainTimeout = options.DrainTimeout });
        services.AddSingleton<EventRecorder>();

        // Leadership (docs/adr/0016-leader-election-and-fencing.md): every control plane campaigns
        // (unless ControllerOptions.Enabled is off); the one that leads runs the leader-only services
        // below, which write through the fenced store so a deposed leader's writes fail.
        services.TryAddSingleton(new LeaderElectionOptions());
        services.AddSingleton(sp => new LeaderElector(
            sp.GetRequiredService<IStateStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<LeaderElectionOptions>(),
            options.MemberId,
            () => options.Advertise ?? sp.GetService<ControlPlaneEndpoints>()?.TryGrpcUrl()?.GetLeftPart(UriPartial.Authority) ?? "",
            sp.GetRequiredService<ILogger<LeaderElector>>(),
            campaign: sp.GetRequiredService<ControllerOptions>().Enabled,
            ready: sp.GetService<IHostApplicationLifetime>()));
        services.AddHostedService(sp => sp.GetRequiredService<LeaderElector>());
        services.AddSingleton(sp => new FencedStateStore(sp.GetRequiredService<IStateStore>(), sp.GetRequiredService<LeaderElector>()));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ServiceController>(sp, sp.GetRequiredService<FencedStateStore>()));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<JobController>(sp, sp.GetRequiredService<FencedStateStore>()));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<EndpointsController>(sp, sp.GetRequiredService<FencedStateStore>()));
        services.TryAddSingleton(new NodeLifecycleOptions());
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<NodeLifecycleLoop>(sp, sp.GetRequiredService<FencedStateStore>()));

        // The scheduler (control-plane/Scheduling/README.md); a host may register its own SchedulerOptions.
        services.TryAddSingleton(new SchedulerOptions());
        services.TryAddSingleton(sp => new Scheduler(sp.GetServices<IFilter>().Concat(Scheduler.BuiltInFilters()).DistinctBy(f => f.Name), sp.GetServices<IScorer>().Concat(Scheduler.BuiltInScorers()).DistinctBy(s => s.Name), sp.GetRequiredService<SchedulerOptions>()));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<PlacementLoop>(sp, sp.GetRequiredService<FencedStateStore>()));
        services.AddSingleton<ClusterSnapshotReader>();
        services.AddSingleton<PlacementExplainer>();
        services.AddSingleton<ApplyPlanner>();

        // Started at each term's start and stopped at its end, in this order (stopped in reverse).
        services.AddHostedService(sp => new LeaderOnlyServices(
            sp.GetRequiredService<LeaderElector>(),
            [
                sp.GetRequiredService<NodeLivenessWatcher>(),
                sp.GetRequiredService<NodeLifecycleLoop>(),
                sp.GetRequiredService<PlacementLoop>(),
                sp.GetRequiredService<ServiceController>(),
                sp.GetRequiredService<JobController>(),
                sp.GetRequiredService<EndpointsController>(),
                sp.GetRequiredService<HistoryCompactionService>(),
            ],
            sp.GetRequiredService<ILogger<LeaderOnlyServices>>()));

        services.AddGrpc(o => o.Interceptors.Add<ErrorMappingInterceptor>());
        services.AddGrpcReflection();

        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("orc-control-plane", serviceVersion: ControlPlaneTelemetry.Version, serviceInstanceId: options.MemberId))
            .WithTracing(t => t.AddSource(ControlPlaneTelemetry.Name).AddAspNetCoreInstrumentation())
            .WithMetrics(m => m.AddMeter(ControlPlaneTelemetry.Name).AddAspNetCoreInstrumentation().AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
        {
            otel.UseOtlpExporter();
        }

        return services;
    }

    /// <summary>
    /// Maps the gRPC services (with reflection) and the HTTP/1.1 endpoints:
    /// <c>/healthz</c> (the process answers), <c>/readyz</c> (the store answers) and <c>/metrics</c> (Prometheus text).
    /// </summary>
    public static TApp MapControlPlane<TApp>(this TApp app)
        where TApp : IEndpointRouteBuilder, IApplicationBuilder
    {
        app.MapGrpcService<ClusterService>();
        app.MapGrpcService<NodeApiService>();
        app.MapGrpcReflectionService();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", ReadyAsync);
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static async Task<IResult> ReadyAsync(IStateStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            var revision = await store.GetRevisionAsync(linked.Token);
            return Results.Text($"ready: store {store.Description} at revision {revision}\n");
        }
        catch (StateStoreException e)
        {
            return Results.Text($"not ready: store {store.Description}: {e.Message}\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return Results.Text($"not ready: store {store.Description} did not answer within 2s\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
