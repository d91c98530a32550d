using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>The node must offer the driver the replica runs with (docker or process).</summary>
public sealed class DriverFilter : IFilter
{
    private static readonly string[] Rules = [.. Enum.GetValues<Driver>().Select(d => "missing driver " + PlacementRequest.DriverName(d))];

    public string Name => "driver";

    public string? Filter(PlacementContext context, SchedulingNode node) =>
        node.Offers(context.Request.Driver) ? null
        : (int)context.Request.Driver is var i && i >= 0 && i < Rules.Length ? Rules[i]
        : "missing driver " + PlacementRequest.DriverName(context.Request.Driver);

    public string Describe(PlacementContext context, SchedulingNode node)
    {
        var offered = node.Info?.Drivers.Select(PlacementRequest.DriverName).ToList() ?? [];
        var offers = offered.Count == 0 ? "offers no driver" : "offers " + string.Join(" and ", offered);
        return $"{offers}, needs {PlacementRequest.DriverName(context.Request.Driver)}";
    }
}
