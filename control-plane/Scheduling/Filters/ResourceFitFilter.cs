using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Scheduling.Filters;

/// <summary>
/// The replica's cpu and memory must fit in what the node has left: allocatable minus the
/// requests of the replicas bound to it that still hold resources.
/// </summary>
public sealed class ResourceFitFilter : IFilter
{
    public const string InsufficientCpu = "insufficient cpu";
    public const string InsufficientMemory = "insufficient memory";

    public string Name => "resources";

    public string? Filter(PlacementContext context, SchedulingNode node) =>
        context.Request.CpuMillis > node.CpuFree ? InsufficientCpu
        : context.Request.MemoryBytes > node.MemoryFree ? InsufficientMemory
        : null;

    public string Describe(PlacementContext context, SchedulingNode node)
    {
        var request = context.Request;
        var cpu = $"cpu {Quantity.FormatCpu(node.CpuUsed)} of {Quantity.FormatCpu(node.AllocatableCpu)} used, needs {Quantity.FormatCpu(request.CpuMillis)}";
        var memory = $"memory {Quantity.FormatMemoryRounded(node.MemoryUsed)} of {Quantity.FormatMemoryRounded(node.AllocatableMemory)} used, needs {Quantity.FormatMemoryRounded(request.MemoryBytes)}";
        return request.CpuMillis > node.CpuFree ? cpu : request.MemoryBytes > node.MemoryFree ? memory : $"{cpu}; {memory}";
    }
}
