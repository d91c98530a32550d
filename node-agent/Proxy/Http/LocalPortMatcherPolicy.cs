using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Yarp.ReverseProxy.Model;

namespace Orchestrator.NodeAgent.Proxy.Http;

/// <summary>
/// Matches a mesh route by the port the connection arrived on, not by the Host header: every
/// published port has one route (<see cref="MeshYarpConfig.PortKey"/> in its metadata), and a client
/// may call the node by any name or address.
/// </summary>
internal sealed class LocalPortMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => endpoints.Any(e => PortOf(e) is not null);

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var port = httpContext.Connection.LocalPort;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i) && PortOf(candidates[i].Endpoint) is { } routePort && routePort != port)
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }

    private static int? PortOf(Endpoint endpoint) =>
        endpoint.Metadata.GetMetadata<RouteModel>()?.Config.Metadata is { } metadata
        && metadata.TryGetValue(MeshYarpConfig.PortKey, out var text)
        && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? port
            : null;
}
