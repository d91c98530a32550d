using System.Globalization;
using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Scheduling.Scorers;

/// <summary>The arithmetic the allocation scorers share.</summary>
internal static class Allocation
{
    /// <summary><paramref name="used"/> / <paramref name="total"/>, clamped to 0..1 (1 for a resource the node has none of).</summary>
    public static double Fraction(long used, long total) =>
        total <= 0 ? 1 : Math.Clamp((double)used / total, 0, 1);

    /// <summary>Mean of the cpu and memory fractions used after placing, in percent.</summary>
    public static double UsedAfterPercent(PlacementRequest request, SchedulingNode node) =>
        (Fraction(node.CpuUsed + request.CpuMillis, node.AllocatableCpu)
            + Fraction(node.MemoryUsed + request.MemoryBytes, node.AllocatableMemory)) * 50;

    public static string DescribeFreeAfter(PlacementRequest request, SchedulingNode node) =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Quantity.FormatCpu(Math.Max(0, node.CpuFree - request.CpuMillis))} of {Quantity.FormatCpu(node.AllocatableCpu)} cpu and {Quantity.FormatMemoryRounded(Math.Max(0, node.MemoryFree - request.MemoryBytes))} of {Quantity.FormatMemoryRounded(node.AllocatableMemory)} memory free after placing");
}
