using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Orchestrator.NodeAgent.Proxy.Http;

/// <summary>
/// The mesh's steps in YARP's proxy pipeline, around YARP's own load balancing and passive health:
/// <c>Measure</c> (metrics, and the 503 when a service has no endpoints) → load balancing →
/// <c>RetryConnectFailure</c> → passive health → forwarder.
/// </summary>
internal sealed class MeshProxyPipeline(MeshMetrics metrics, TimeProvider time)
{
    private static readonly HashSet<string> IdempotentMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        HttpMethods.Get, HttpMethods.Head, HttpMethods.Options, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Trace,
    };

    /// <summary>Records one request in <see cref="MeshMetrics"/>; answers 503 in plain words when the service has no endpoints.</summary>
    public async Task MeasureAsync(HttpContext context, Func<Task> next)
    {
        var feature = context.GetReverseProxyFeature();
        var (service, port) = Names(feature);
        var started = time.GetTimestamp();
        metrics.Started(service, port);
        try
        {
            if (feature.AvailableDestinations.Count == 0)
            {
                metrics.Error(service, port, "no-endpoints");
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync(
                    $"503 no endpoints: service \"{service}\" (port {port}) has no ready replica to send this request to; "
                    + $"see orc get service {service} and orc get endpoints {service}\n",
                    context.RequestAborted).ConfigureAwait(false);
                return;
            }

            await next().ConfigureAwait(false);
            if (context.Features.Get<IForwarderErrorFeature>() is { } error)
            {
                metrics.Error(service, port, Reason(error));
            }
        }
        finally
        {
            metrics.Completed(service, port, Outcome(context.Response.StatusCode), time.GetElapsedTime(started));
        }
    }

    /// <summary>
    /// An idempotent request whose connection to the picked endpoint could not be made goes once
    /// more, to another endpoint: nothing of it reached the first one, so sending it again is safe.
    /// Both tries pass through passive health, so the endpoint that refused is counted as failing.
    /// </summary>
    public async Task RetryConnectFailureAsync(HttpContext context, Func<Task> next)
    {
        await next().ConfigureAwait(false);
        var feature = context.GetReverseProxyFeature();
        if (context.Features.Get<IForwarderErrorFeature>() is not { } error
            || !IsConnectFailure(error)
            || !IdempotentMethods.Contains(context.Request.Method)
            || context.Response.HasStarted
            || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        var failed = feature.ProxiedDestination;
        var other = feature.AllDestinations
            .Where(d => !ReferenceEquals(d, failed)
                && d.Health.Passive != DestinationHealth.Unhealthy
                && d.Health.Active != DestinationHealth.Unhealthy)
            .OrderBy(d => d.ConcurrentRequestCount)
            .FirstOrDefault();
        if (other is null)
        {
            return;
        }

        var (service, port) = Names(feature);
        metrics.Error(service, port, "connect-failed-retried");
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.StatusCode = StatusCodes.Status200OK;
        feature.AvailableDestinations = [other];
        await next().ConfigureAwait(false);
    }

    internal static bool IsConnectFailure(IForwarderErrorFeature error) =>
        error.Error == ForwarderError.Request
        && error.Exception is HttpRequestException request
        && (request.HttpRequestError == HttpRequestError.ConnectionError
            || request.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable });

    private static (string Service, string Port) Names(IReverseProxyFeature feature)
    {
        var metadata = feature.Cluster.Config.Metadata;
        return (metadata?.GetValueOrDefault(MeshYarpConfig.ServiceKey) ?? feature.Cluster.Config.ClusterId,
            metadata?.GetValueOrDefault(MeshYarpConfig.PortNameKey) ?? "");
    }

    private static string Reason(IForwarderErrorFeature error) => error.Error switch
    {
        ForwarderError.Request when IsConnectFailure(error) => "connect-failed",
        ForwarderError.Request => "request-failed",
        ForwarderError.RequestTimedOut => "timeout",
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled => "canceled",
        ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient => "client",
        ForwarderError.NoAvailableDestinations => "no-endpoints",
        _ => "upstream",
    };

    private static string Outcome(int status) => status switch
    {
        < 200 => "1xx",
        < 300 => "2xx",
        < 400 => "3xx",
        < 500 => "4xx",
        _ => "5xx",
    };
}
