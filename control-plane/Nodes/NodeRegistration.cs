using Grpc.Core;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Nodes;

/// <summary>Checks the first message of a node stream before anything is written.</summary>
public static class NodeRegistration
{
    /// <summary>The protocol versions this control plane speaks.</summary>
    public static readonly IReadOnlyList<NodeProtocolVersion> Supported = [NodeProtocolVersion._1];

    /// <summary>
    /// The first message an agent sent, checked: null when it is a usable registration,
    /// otherwise the status to end the stream with (what is wrong and how to fix it).
    /// </summary>
    public static Status? Validate(AgentMessage? first)
    {
        if (first is null)
        {
            return new Status(StatusCode.InvalidArgument, "the node stream ended before its first message; an agent must send Register first");
        }

        if (first.MessageCase != AgentMessage.MessageOneofCase.Register)
        {
            return new Status(StatusCode.InvalidArgument, $"the first message on the node stream must be Register, not {Describe(first.MessageCase)}; send Register (protocol version, node name, node info) before anything else");
        }

        var register = first.Register;
        if (!Supported.Contains(register.ProtocolVersion))
        {
            return new Status(StatusCode.FailedPrecondition, $"node protocol version {(int)register.ProtocolVersion} is not supported; this control plane speaks version {string.Join(", ", Supported.Select(v => (int)v))}; run an agent of the same release as the control plane");
        }

        var name = register.NodeName;
        if (string.IsNullOrEmpty(name))
        {
            return new Status(StatusCode.InvalidArgument, "the node name is missing; pass --name NAME (lowercase letters, digits and '-')");
        }

        if (!Names.IsValidDnsLabel(name))
        {
            var suggestion = Names.SuggestDnsLabel(name);
            return new Status(StatusCode.InvalidArgument, $"node name \"{name}\" is not a DNS label; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit{(suggestion is null ? "" : $", for example --name {suggestion}")}");
        }

        var info = register.Info;
        if (info is null)
        {
            return Invalid(name, "node info is missing; the agent must describe its address, drivers, resources and port range");
        }

        if (string.IsNullOrWhiteSpace(info.Address))
        {
            return Invalid(name, "the address is missing; pass --address with the IP other nodes use to reach this one, for example --address 127.0.0.1");
        }

        if (info.Address.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return Invalid(name, $"address \"{info.Address}\" contains spaces; pass --address with an IP address or host name");
        }

        if (info.Drivers.Count == 0)
        {
            return Invalid(name, "the node offers no driver; run the agent with --runtime process, docker or auto");
        }

        if (info.Drivers.Any(d => d == Driver.Unspecified || !Enum.IsDefined(d)))
        {
            return Invalid(name, $"drivers [{string.Join(", ", info.Drivers)}] include an unknown one; offer docker and/or process");
        }

        if (ResourceProblem(info.Capacity, "capacity") is { } capacityProblem)
        {
            return Invalid(name, capacityProblem);
        }

        if (ResourceProblem(info.Allocatable, "allocatable") is { } allocatableProblem)
        {
            return Invalid(name, allocatableProblem);
        }

        if (info.Allocatable.CpuMillis > info.Capacity.CpuMillis || info.Allocatable.MemoryBytes > info.Capacity.MemoryBytes)
        {
            return Invalid(name, $"allocatable ({Quantity(info.Allocatable)}) exceeds capacity ({Quantity(info.Capacity)}); allocatable must be at most what the machine has");
        }

        var ports = info.Ports;
        if (ports is null)
        {
            return Invalid(name, "the port range is missing; pass --ports FIRST-LAST, for example --ports 20000-20999");
        }

        if (ports.First < 1 || ports.First > 65535 || ports.Last < 1 || ports.Last > 65535)
        {
            return Invalid(name, $"port range {ports.First}-{ports.Last} is outside 1-65535; pass --ports FIRST-LAST with ports between 1 and 65535");
        }

        if (ports.First > ports.Last)
        {
            return Invalid(name, $"port range {ports.First}-{ports.Last} is empty; pass --ports FIRST-LAST with FIRST <= LAST");
        }

        foreach (var report in register.Running)
        {
            if (ReportProblem(report) is { } problem)
            {
                return Invalid(name, $"Register.running: {problem}");
            }
        }

        return null;
    }

    /// <summary>What is wrong with a replica report, or null when it is well formed.</summary>
    public static string? ReportProblem(ReplicaReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (string.IsNullOrEmpty(report.ReplicaId))
        {
            return "a replica report has no replica_id; every report names the replica it is about";
        }

        if (report.ReplicaId.Length > 253 || report.ReplicaId.Any(c => c == '/' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return $"replica id \"{report.ReplicaId}\" is not valid; replica ids are at most 253 characters without '/' or spaces";
        }

        if (report.Generation < 0)
        {
            return $"replica {report.ReplicaId}: generation {report.Generation} is negative; report the generation of the assignment the agent acted on";
        }

        if (report.Status is null)
        {
            return $"replica {report.ReplicaId}: the report has no status; send the phase the replica is in";
        }

        if (report.Status.Phase is not (Phase.Starting or Phase.Running or Phase.Ready or Phase.Draining or Phase.Succeeded or Phase.Failed))
        {
            return $"replica {report.ReplicaId}: phase {report.Status.Phase} is not one an agent reports; agents report Starting, Running, Ready, Draining, Succeeded or Failed (docs/adr/0006-replica-phases.md)";
        }

        return null;
    }

    private static string? ResourceProblem(Resources? resources, string what)
    {
        if (resources is null)
        {
            return $"{what} is missing; the agent must report the cpu and memory of the node";
        }

        if (resources.CpuMillis <= 0)
        {
            return $"{what} cpu is {resources.CpuMillis}m; it must be more than 0 (pass --cpu, for example --cpu 2)";
        }

        if (resources.MemoryBytes <= 0)
        {
            return $"{what} memory is {resources.MemoryBytes} bytes; it must be more than 0 (pass --memory, for example --memory 2Gi)";
        }

        return null;
    }

    private static string Quantity(Resources r) => $"{r.CpuMillis}m cpu, {r.MemoryBytes} bytes memory";

    private static Status Invalid(string node, string problem) => new(StatusCode.InvalidArgument, $"node \"{node}\": {problem}");

    private static string Describe(AgentMessage.MessageOneofCase c) => c switch
    {
        AgentMessage.MessageOneofCase.None => "an empty message",
        AgentMessage.MessageOneofCase.Heartbeat => "Heartbeat",
        AgentMessage.MessageOneofCase.Status => "ReplicaReport",
        AgentMessage.MessageOneofCase.EndpointsAck => "EndpointsAck",
        _ => c.ToString(),
    };
}
