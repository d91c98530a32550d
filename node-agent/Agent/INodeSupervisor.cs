using System.Threading.Channels;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Agent;

/// <summary>
/// What <see cref="NodeAgent"/> needs from the local supervisor: the full set of replicas this
/// node must run, what runs right now (for registration), and phase changes as they happen.
/// The supervisor keeps replicas running whether or not the agent is connected.
/// </summary>
public interface INodeSupervisor
{
    /// <summary>Reports of phase changes, in order; the agent forwards them while connected.</summary>
    ChannelReader<ReplicaReport> Reports { get; }

    /// <summary>Every replica this node runs or ran and has not forgotten, as reported now.</summary>
    IReadOnlyList<ReplicaReport> Snapshot();

    /// <summary>Replaces the desired set: anything not in it is stopped.</summary>
    void SetAssignments(IReadOnlyCollection<Replica> replicas);
}
