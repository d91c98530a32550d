using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Orchestrator.NodeAgent.Proxy;

/// <summary>
/// The routing mesh's metrics per service and port (meter <see cref="MeterName"/>, on the agent's
/// <c>/metrics</c>): requests (HTTP requests, TCP connections) by outcome, errors by reason, the
/// duration of each, and what is open now.
/// </summary>
public sealed class MeshMetrics
{
    public const string MeterName = "Orchestrator.Mesh";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _duration;
    private readonly UpDownCounter<long> _active;

    public MeshMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("orc.mesh.requests", "{request}", "HTTP requests and TCP connections the mesh forwarded, by service, port and outcome");
        _errors = meter.CreateCounter<long>("orc.mesh.errors", "{error}", "Requests and connections the mesh could not forward or that failed, by service, port and reason");
        _duration = meter.CreateHistogram<double>(
            "orc.mesh.request.duration",
            "s",
            "Time from accepting an HTTP request to its response's end, or a TCP connection's whole life",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        _active = meter.CreateUpDownCounter<long>("orc.mesh.active", "{connection}", "HTTP requests in flight and TCP connections open, by service and port");
    }

    /// <summary>One request or connection has started; pair with <see cref="Completed"/>.</summary>
    public void Started(string service, string port) => _active.Add(1, Tags(service, port));

    /// <summary>
    /// One request or connection has ended after <paramref name="elapsed"/>; <paramref name="outcome"/>
    /// is the HTTP status class (<c>2xx</c>, <c>5xx</c>) or, for TCP, <c>closed</c> (forwarded) or
    /// <c>failed</c> (no endpoint could be reached).
    /// </summary>
    public void Completed(string service, string port, string outcome, TimeSpan elapsed)
    {
        var tags = Tags(service, port);
        _active.Add(-1, tags);
        tags.Add("outcome", outcome);
        _requests.Add(1, tags);
        _duration.Record(elapsed.TotalSeconds, Tags(service, port));
    }

    /// <summary>A failure, by a short reason (<c>connect-refused</c>, <c>connect-timeout</c>, <c>connect-unreachable</c>, <c>connect-failed</c>, <c>no-endpoints</c>, <c>reset</c>).</summary>
    public void Error(string service, string port, string reason)
    {
        var tags = Tags(service, port);
        tags.Add("reason", reason);
        _errors.Add(1, tags);
    }

    private static TagList Tags(string service, string port) => new() { { "service", service }, { "port", port } };
}
