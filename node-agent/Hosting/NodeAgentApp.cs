using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Orchestrator.NodeAgent.Hosting;

/// <summary>
/// Builds a ready-to-run node agent: <c>orc-agent</c>, <c>orc dev</c> and tests host it the same
/// way. Kestrel serves <c>/healthz</c>, <c>/endpoints</c> and <c>/metrics</c> on the agent's HTTP/1.1
/// endpoint (ADR 0004); the routing mesh runs its own Kestrel on the published ports; the agent
/// itself dials out to the control plane, so it needs no gRPC listener.
/// </summary>
public static class NodeAgentApp
{
    /// <exception cref="FormatException">The HTTP listen address is malformed; the message names the flag and the fix.</exception>
    public static WebApplication Build(NodeAgentOptions options, string? dockerVersion, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (address, port) = ParseListen(options.EffectiveHttpListen);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "orc-agent",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(address, port, lo => lo.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddNodeAgent(options, dockerVersion);

        // Prometheus text on /metrics, as the control plane serves it; the mesh's meter is what it has.
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("orc-agent", serviceInstanceId: options.NodeName))
            .WithMetrics(m => m.AddMeter(Proxy.MeshMetrics.MeterName).AddPrometheusExporter());
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapGet("/healthz", (Agent.NodeAgent agent) =>
        {
            var server = agent.ConnectedTo;
            return Results.Text(server is null
                ? $"ok: node {options.NodeName}, not connected to a control plane (retrying)\n"
                : $"ok: node {options.NodeName}, connected to {server}\n");
        });

        app.MapPrometheusScrapingEndpoint("/metrics");

        // Every service's endpoints as this agent last received them, for client-side balancing (ADR 0020).
        app.MapGet("/endpoints", (Discovery.EndpointsTable endpoints) => Results.Bytes(endpoints.Current.ToJson(), "application/json"));
        app.MapGet("/endpoints/{service}", (string service, Discovery.EndpointsTable endpoints) =>
        {
            var snapshot = endpoints.Current;
            return snapshot.ServiceJson(service) is { } json
                ? Results.Bytes(json, "application/json")
                : Results.Text($"no endpoints for service \"{service}\" at version {snapshot.Version}: the service does not exist, or the control plane has not published it yet; GET /endpoints lists every service\n", statusCode: StatusCodes.Status404NotFound);
        });
        return app;
    }

    /// <summary>The HTTP endpoint Kestrel bound (port 0 resolved), for tests and <c>orc dev</c>.</summary>
    public static Uri HttpUrl(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return new Uri(app.Urls.First());
    }

    internal static (IPAddress Address, int Port) ParseListen(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon > 0
            && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535)
        {
            var host = text[..colon].Trim('[', ']');
            if (host == "localhost")
            {
                return (IPAddress.Loopback, port);
            }

            if (IPAddress.TryParse(host, out var address))
            {
                return (address, port);
            }
        }

        throw new FormatException($"--http-listen: \"{text}\" is not IP:PORT; for example --http-listen 127.0.0.1:7072");
    }
}
