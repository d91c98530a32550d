namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>Every declared port needs a free host port from the node's range.</summary>
public sealed class HostPortFilter : IFilter
{
    public const string NoFreePort = "no free host port";

    public string Name => "host-ports";

    public string? Filter(PlacementContext context, SchedulingNode node) =>
        context.Request.PortNames.Count > node.FreePorts ? NoFreePort : null;

    public string Describe(PlacementContext context, SchedulingNode node)
    {
        var range = node.PortRangeSize == 0 ? "no host port range" : $"{node.FreePorts} of {node.PortRangeSize} host ports free ({node.FirstPort}-{node.LastPort})";
        return $"{range}, needs {context.Request.PortNames.Count}";
    }
}
