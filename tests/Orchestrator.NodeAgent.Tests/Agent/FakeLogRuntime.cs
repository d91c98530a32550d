using System.Runtime.CompilerServices;
using Orchestrator.NodeAgent.Runtime;

namespace Orchestrator.NodeAgent.Tests.Agent;

/// <summary>A runtime that only has logs: the lines of each replica it knows.</summary>
internal sealed class FakeLogRuntime(string name) : IContainerRuntime, IReplicaLogs
{
    public Dictionary<string, List<LogLine>> Logs { get; } = new(StringComparer.Ordinal);

    public string Name => name;

    public Task<ReplicaHandle> StartAsync(ReplicaLaunch launch, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task StopAsync(string replicaId, TimeSpan grace, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task RemoveAsync(string replicaId, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<IReadOnlyList<RuntimeReplica>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<RuntimeReplica>>([]);

    public async IAsyncEnumerable<RuntimeEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        yield break;
    }

    public async IAsyncEnumerable<LogLine> ReadLogsAsync(string replicaId, int? tail, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        if (!Logs.TryGetValue(replicaId, out var lines))
        {
            throw new KeyNotFoundException(replicaId);
        }

        foreach (var line in tail is { } n ? lines.TakeLast(n) : lines)
        {
            yield return line;
        }
    }
}
