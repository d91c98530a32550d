using System.Threading.Channels;
using Orchestrator.NodeAgent.Agent;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Agent;

/// <summary>Records the assignment sets it is given; reports what the test tells it to.</summary>
internal sealed class FakeSupervisor : INodeSupervisor
{
    private readonly Channel<ReplicaReport> _reports = Channel.CreateUnbounded<ReplicaReport>();

    public List<ReplicaReport> Running { get; } = [];

    /// <summary>Replica ids (sorted) of every SetAssignments call, in order.</summary>
    public Channel<string[]> Sets { get; } = Channel.CreateUnbounded<string[]>();

    public List<IReadOnlyCollection<Replica>> Received { get; } = [];

    public ChannelReader<ReplicaReport> Reports => _reports.Reader;

    public void Report(ReplicaReport report) => _reports.Writer.TryWrite(report);

    public IReadOnlyList<ReplicaReport> Snapshot()
    {
        lock (Running)
        {
            return [.. Running];
        }
    }

    public void SetAssignments(IReadOnlyCollection<Replica> replicas)
    {
        lock (Received)
        {
            Received.Add(replicas);
        }

        Sets.Writer.TryWrite([.. replicas.Select(r => r.Meta.Name).Order(StringComparer.Ordinal)]);
    }
}
