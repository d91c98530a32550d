using Microsoft.Extensions.Time.Testing;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Agent;

/// <summary>A <see cref="NodeAgent"/> wired to a fake control plane, a fake supervisor and a fake clock.</summary>
internal sealed class AgentHarness : IAsyncDisposable
{
    public AgentHarness(NodeAgentOptions? options = null, IEnumerable<IContainerRuntime>? runtimes = null, NodeInfo? info = null)
    {
        Options = options ?? new NodeAgentOptions { NodeName = "node-1", Servers = [new Uri("http://cp-a:7070")] };
        Agent = new Orchestrator.NodeAgent.Agent.NodeAgent(
            Options,
            Supervisor,
            runtimes ?? [],
            info ?? new NodeInfo { Address = Options.Address },
            Plane.Connect,
            Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public FakeControlPlane Plane { get; } = new();

    public FakeSupervisor Supervisor { get; } = new();

    public NodeAgentOptions Options { get; }

    public Orchestrator.NodeAgent.Agent.NodeAgent Agent { get; }

    public static CancellationToken Token => TestContext.Current.CancellationToken;

    public Task StartAsync() => Agent.StartAsync(Token);

    /// <summary>Advances the fake clock in small steps until <paramref name="task"/> completes (reconnect delays are jittered).</summary>
    public async Task<T> PumpUntilAsync<T>(Task<T> task)
    {
        while (!task.IsCompleted)
        {
            Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(TimeSpan.FromMilliseconds(1), TimeProvider.System, Token);
        }

        return await task;
    }

    /// <summary>The next stream the agent opened, after it registered on it; answers Registered.</summary>
    public async Task<(FakeNodeStream Stream, Register Register)> AcceptAsync(long heartbeatMs = 1000)
    {
        var stream = await PumpUntilAsync(Plane.Streams.Reader.ReadAsync(Token).AsTask());
        var register = (await stream.NextAsync(AgentMessage.MessageOneofCase.Register, Token)).Register;
        stream.SendRegistered(heartbeatMs);
        return (stream, register);
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.StopAsync(CancellationToken.None);
        Agent.Dispose();
    }

    public static Replica Replica(string id, long generation = 1, Driver driver = Driver.Process) => new()
    {
        Meta = new ObjectMeta { Name = id },
        Spec = new ReplicaSpec { Node = "node-1", Generation = generation, Template = new ReplicaTemplate { Driver = driver } },
    };
}
