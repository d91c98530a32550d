using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Orchestrator.NodeAgent.Agent;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Simulation;

/// <summary>
/// Hands a simulated node's assignments to the real supervisor without their health checks:
/// nothing listens on a simulated replica's ports, so an http or tcp probe could never pass.
/// Without a readiness probe the supervisor reports a running replica Ready at once, as
/// Kubernetes does; restarts, stops, fencing and every report stay the supervisor's own.
/// </summary>
public sealed class ProbelessSupervisor(INodeSupervisor inner) : INodeSupervisor
{
    // The agent passes the whole assignment set on every delta; each replica is copied once, not per delta.
    private readonly ConditionalWeakTable<Replica, Replica> _stripped = [];

    public ChannelReader<ReplicaReport> Reports => inner.Reports;

    public IReadOnlyList<ReplicaReport> Snapshot() => inner.Snapshot();

    public void SetAssignments(IReadOnlyCollection<Replica> replicas)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        inner.SetAssignments([.. replicas.Select(r => _stripped.GetValue(r, Strip))]);
    }

    /// <summary>The replica as assigned, minus its readiness and liveness probes.</summary>
    public static Replica Strip(Replica replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        if (replica.Spec?.Template?.Health is null)
        {
            return replica;
        }

        var copy = replica.Clone();
        copy.Spec.Template.Health = null;
        return copy;
    }
}
