using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.NodeAgent.Agent;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.NodeAgent.Supervisor;

namespace Orchestrator.NodeAgent.Hosting;

/// <summary>Registers a node agent: its runtimes, its supervisor and the node stream client.</summary>
public static class NodeAgentServiceCollectionExtensions
{
    /// <summary>
    /// Adds the agent for <paramref name="options"/>. The supervisor starts before the stream
    /// client and stops after it (hosted services stop in reverse order), so the last report of a
    /// stopping agent still finds a supervisor, and replicas are stopped only when
    /// <see cref="NodeAgentOptions.StopAllOnShutdown"/> says so.
    /// </summary>
    /// A test may register its own <see cref="INodeSupervisor"/> before this call; otherwise the
    /// <see cref="ReplicaSupervisor"/> is the node's supervisor.
    /// <param name="dockerVersion">What the Docker daemon answered (<see cref="RuntimeSelection.DockerVersionAsync"/>), or null when none did.</param>
    public static IServiceCollection AddNodeAgent(this IServiceCollection services, NodeAgentOptions options, string? dockerVersion)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(sp => RuntimeSelection.Create(options, dockerVersion, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<IEnumerable<IContainerRuntime>>(sp => sp.GetRequiredService<RuntimeSelection>().Runtimes);
        services.AddSingleton<NodeApiChannels>();
        services.AddMetrics();
        services.TryAddSingleton<Proxy.MeshMetrics>();
        if (options.Mesh)
        {
            AddRoutingMesh(services, options);
        }

        services.AddSingleton<Discovery.EndpointsTable>();
        if (!services.Any(d => d.ServiceType == typeof(INodeSupervisor)))
        {
            services.AddSingleton(sp =>
            {
                var endpoints = sp.GetRequiredService<Discovery.EndpointsTable>();
                return new ReplicaSupervisor(
                    new SupervisorOptions
                    {
                        NodeName = options.NodeName,
                        NodeAddress = options.Address,
                        StopAllOnShutdown = options.StopAllOnShutdown,
                        Backoff = options.RestartBackoff,
                        ServiceEnvironment = () => Discovery.ServiceVariables.Of(endpoints.Current, options.Address),
                    },
                    sp.GetRequiredService<RuntimeSelection>().Runtimes,
                    sp.GetRequiredService<TimeProvider>(),
                    sp.GetRequiredService<ILogger<ReplicaSupervisor>>());
            });
            services.AddSingleton<INodeSupervisor>(sp => sp.GetRequiredService<ReplicaSupervisor>());

            // Started before the stream client and stopped after it (hosted services stop in reverse order).
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ReplicaSupervisor>());
        }

        services.AddSingleton(sp =>
        {
            var runtimes = sp.GetRequiredService<RuntimeSelection>();
            var info = NodeInfoFactory.Create(options, runtimes.Drivers, runtimes.Process?.MemoryEnforcementName ?? "");
            return new Agent.NodeAgent(
                options,
                sp.GetRequiredService<INodeSupervisor>(),
                runtimes.Runtimes,
                info,
                sp.GetRequiredService<NodeApiChannels>().Connect,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<Agent.NodeAgent>>(),
                sp.GetRequiredService<Discovery.EndpointsTable>());
        });
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<Agent.NodeAgent>());
        return services;
    }

    /// <summary>
    /// The routing mesh: an endpoints consumer (so the agent acks a version only once the mesh routes
    /// by it) and a hosted service registered before the stream client, so it closes its listeners
    /// after the agent has stopped. TCP routes go to the registered <see cref="Proxy.ITcpListenerFactory"/>,
    /// by default one <see cref="Proxy.Tcp.TcpProxyListener"/> per published TCP port.
    /// </summary>
    private static void AddRoutingMesh(IServiceCollection services, NodeAgentOptions options)
    {
        services.TryAddSingleton<Proxy.ITcpListenerFactory>(sp => new Proxy.Tcp.TcpMeshListenerFactory(
            new Proxy.Tcp.TcpProxyOptions(),
            sp.GetRequiredService<Proxy.MeshMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(sp => new Proxy.RoutingMesh(
            new Proxy.RoutingMeshOptions { Address = Proxy.RoutingMeshOptions.ListenAddress(options.Address) },
            new Proxy.Http.YarpHttpMesh(
                Proxy.RoutingMeshOptions.ListenAddress(options.Address),
                sp.GetRequiredService<Proxy.MeshMetrics>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>()),
            sp.GetRequiredService<Proxy.ITcpListenerFactory>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Proxy.RoutingMesh>>()));
        services.AddSingleton<Discovery.IEndpointsConsumer>(sp => sp.GetRequiredService<Proxy.RoutingMesh>());
        services.AddSingleton<IHostedService>(sp => new Proxy.RoutingMeshHost(sp.GetRequiredService<Proxy.RoutingMesh>()));
    }
}
