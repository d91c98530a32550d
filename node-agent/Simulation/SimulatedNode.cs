using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Supervisor;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Simulation;

/// <summary>
/// One hollow node: the real <see cref="Agent.NodeAgent"/> (registration, heartbeats, assignments,
/// reports over the real node stream) and the real <see cref="ReplicaSupervisor"/>, over
/// <see cref="SimulatedRuntime"/>s for the <c>process</c> and <c>docker</c> drivers that run nothing.
/// An assigned replica goes Starting, Running, Ready at once; a stopped one Succeeded.
/// </summary>
public sealed class SimulatedNode : IAsyncDisposable
{
    private readonly ReplicaSupervisor _supervisor;
    private readonly KillSwitch _killSwitch = new();
    private int _state; // 0 new, 1 started, 2 stopped

    internal SimulatedNode(NodeAgentOptions options, NodeInfo info, Func<Uri, CallInvoker> connect, HttpClient probeHttp, TimeProvider time, ILoggerFactory loggerFactory)
    {
        Options = options;
        Info = info;
        Runtimes = [new SimulatedRuntime("process", options.NodeName, time), new SimulatedRuntime("docker", options.NodeName, time)];
        _supervisor = new ReplicaSupervisor(
            new SupervisorOptions
            {
                NodeName = options.NodeName,
                NodeAddress = options.Address,
                StopAllOnShutdown = true,
                Backoff = options.RestartBackoff,
            },
            Runtimes,
            time,
            loggerFactory.CreateLogger<ReplicaSupervisor>(),
            probeHttp);
        Agent = new Agent.NodeAgent(
            options,
            new ProbelessSupervisor(_supervisor),
            Runtimes,
            info,
            server => connect(server).Intercept(_killSwitch),
            time,
            loggerFactory.CreateLogger<Agent.NodeAgent>());
    }

    public string Name => Options.NodeName;

    public string Address => Options.Address;

    public NodeAgentOptions Options { get; }

    /// <summary>What the node registers with: its drivers, resources, ports and labels.</summary>
    public NodeInfo Info { get; }

    public IReadOnlyList<SimulatedRuntime> Runtimes { get; }

    public Agent.NodeAgent Agent { get; }

    /// <summary>Completes when the node first registered (the control plane has stored it Ready).</summary>
    public Task Registered => Agent.FirstRegistration;

    /// <summary>True after <see cref="Kill"/>.</summary>
    public bool Killed => _killSwitch.Pulled;

    /// <summary>How many replicas this node "runs" now.</summary>
    public int RunningCount => Runtimes.Sum(r => r.RunningCount);

    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            return;
        }

        await _supervisor.StartAsync(cancellationToken);
        await Agent.StartAsync(cancellationToken);
    }

    /// <summary>
    /// The node dies without a word: heartbeats and reports stop, the stream stays open, later
    /// connections fail. The control plane notices only when the node's liveness lease expires.
    /// </summary>
    public void Kill() => _killSwitch.Pull();

    /// <summary>Ends the stream (the control plane marks the node NotReady at once) and forgets every replica.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        await Agent.StopAsync(cancellationToken);
        await _supervisor.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        Agent.Dispose();
        await _supervisor.DisposeAsync();
    }
}
