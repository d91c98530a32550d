using System.Diagnostics;
using Docker.DotNet;
using Docker.DotNet.Models;
using Orchestrator.NodeAgent.Runtime.Docker;

namespace Orchestrator.Bench;

/// <summary>
/// The local Docker engine as a Swarm manager, driven through the Engine API (Docker.DotNet's
/// Swarm, Tasks and System operations). <see cref="JoinAsync"/> runs <c>docker swarm init
/// --advertise-addr 127.0.0.1</c> only when the engine is not already in a swarm, and disposing
/// leaves (<c>docker swarm leave --force</c>) only a swarm this run created.
/// </summary>
internal sealed class SwarmCluster : IAsyncDisposable
{
    public const string ManagerAddress = "127.0.0.1";

    /// <summary>The bridge <c>swarm init</c> creates on the host; Docker keeps it after <c>swarm leave</c>.</summary>
    private const string GatewayBridge = "docker_gwbridge";

    private readonly bool _created;
    private readonly bool _removeGatewayBridge;

    private SwarmCluster(DockerClient client, bool created, bool removeGatewayBridge, string nodeId)
    {
        Client = client;
        _created = created;
        _removeGatewayBridge = removeGatewayBridge;
        ManagerNodeId = nodeId;
    }

    public DockerClient Client { get; }

    public string ManagerNodeId { get; }

    /// <summary>True when this run ran <c>swarm init</c> (and so leaves at the end).</summary>
    public bool Created => _created;

    public static DockerClient ClientFor(Uri endpoint)
    {
        var builder = new DockerClientBuilder().WithEndpoint(endpoint);

        // The engine here may be older than the client's default API version (engine 20.10 speaks 1.41).
        if (System.Version.TryParse(Environment.GetEnvironmentVariable("DOCKER_API_VERSION"), out var apiVersion))
        {
            builder = builder.WithApiVersion(apiVersion);
        }

        return builder.Build();
    }

    public static async Task<SwarmCluster> JoinAsync()
    {
        var client = ClientFor(DockerRuntimeOptions.DefaultEndpoint());
        try
        {
            var info = await client.System.GetSystemInfoAsync();
            var state = info.Swarm?.LocalNodeState ?? "";
            var created = false;
            var removeGatewayBridge = false;
            if (state == "inactive")
            {
                removeGatewayBridge = !(await client.Networks.ListNetworksAsync()).Any(n => n.Name == GatewayBridge);
                await client.Swarm.InitSwarmAsync(new SwarmInitParameters { ListenAddr = $"{ManagerAddress}:2377", AdvertiseAddr = ManagerAddress });
                created = true;
                info = await client.System.GetSystemInfoAsync();
            }
            else if (info.Swarm?.ControlAvailable != true)
            {
                throw new InvalidOperationException($"the Docker engine is in a swarm as a worker (state {state}): the Swarm scenarios need a manager; run them where `docker swarm leave` is possible or on a manager");
            }

            return new SwarmCluster(client, created, removeGatewayBridge, info.Swarm!.NodeID);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The replicated service of the Swarm scenarios: update config as close to orc's default (maxSurge 1, maxUnavailable 0) as Swarm has.</summary>
    public static ServiceSpec ServiceSpec(string name, string image, IList<string> command, string version, string label, bool hostNetwork, int replicas) => new()
    {
        Name = name,
        Labels = new Dictionary<string, string> { ["orc-bench"] = label },
        Mode = new ServiceMode { Replicated = new ReplicatedService { Replicas = (ulong)replicas } },
        TaskTemplate = new TaskSpec
        {
            ContainerSpec = new ContainerSpec
            {
                Image = image,
                Command = command,
                Env = [$"VERSION={version}"],
                Labels = new Dictionary<string, string> { ["orc-bench"] = label },
            },
            Networks = hostNetwork ? [new NetworkAttachmentConfig { Target = "host" }] : null,
        },

        // --update-parallelism 1 --update-delay 0s --update-order start-first --update-failure-action rollback
        UpdateConfig = new SwarmUpdateConfig { Parallelism = 1, Delay = TimeSpan.Zero, Order = "start-first", FailureAction = "rollback" },
    };

    /// <summary>
    /// Reads the service, changes its spec and writes it back at the version read; when the swarm
    /// bumped the version in between ("update out of sequence"), reads it again and retries.
    /// </summary>
    public async Task UpdateServiceAsync(string serviceId, Action<ServiceSpec> change)
    {
        for (var attempt = 1; ; attempt++)
        {
            var service = await Client.Swarm.InspectServiceAsync(serviceId);
            var spec = service.Spec ?? throw new InvalidOperationException($"swarm: service {serviceId} has no spec");
            change(spec);
            try
            {
                await Client.Swarm.UpdateServiceAsync(serviceId, new ServiceUpdateParameters { Service = spec, Version = (long)(service.Version?.Index ?? 0) });
                return;
            }
            catch (DockerApiException e) when (attempt < 5 && e.ResponseBody?.Contains("out of sequence", StringComparison.Ordinal) == true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
            }
        }
    }

    public static bool HasVersion(TaskResponse task, string version) =>
        task.Spec?.ContainerSpec?.Env?.Contains($"VERSION={version}") == true;

    public async Task<IList<TaskResponse>> TasksAsync(string serviceId) =>
        await Client.Tasks.ListAsync(new TasksListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [serviceId] = true } },
        });

    /// <summary>
    /// Polls the service's tasks until <paramref name="done"/> holds, and returns the time since
    /// <paramref name="started"/>; on timeout says what the tasks were doing.
    /// </summary>
    public async Task<TimeSpan> WaitTasksAsync(string serviceId, Func<IList<TaskResponse>, bool> done, long started, TimeSpan poll, TimeSpan timeout, string what)
    {
        while (true)
        {
            var tasks = await TasksAsync(serviceId);
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (done(tasks))
            {
                return elapsed;
            }

            if (elapsed > timeout)
            {
                throw new TimeoutException($"swarm: {what} not reached after {timeout.TotalSeconds:F0} s; tasks: {Describe(tasks)}");
            }

            await Task.Delay(poll, TimeProvider.System);
        }
    }

    public static string Describe(IEnumerable<TaskResponse> tasks) => string.Join(", ", tasks
        .GroupBy(t => $"{t.Spec?.ContainerSpec?.Env?.FirstOrDefault(e => e.StartsWith("VERSION=", StringComparison.Ordinal))} node {t.NodeID?[..Math.Min(6, t.NodeID.Length)]} {t.Status?.State}->{t.DesiredState}{(string.IsNullOrEmpty(t.Status?.Err) ? "" : $" ({t.Status!.Err})")}")
        .Select(g => $"{g.Count()}x {g.Key}"));

    /// <summary>Removes the service and waits (bounded) until its containers are gone from the manager's engine.</summary>
    public async Task RemoveServiceAsync(string serviceId, string label)
    {
        try
        {
            await Client.Swarm.RemoveServiceAsync(serviceId);
        }
        catch (DockerApiException e)
        {
            Console.WriteLine($"    swarm: removing service {serviceId}: {e.Message}");
        }

        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromMinutes(1))
        {
            var left = await Client.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"orc-bench={label}"] = true } },
            });
            if (left.Count == 0)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), TimeProvider.System);
        }

        Console.WriteLine($"    swarm: containers of service {serviceId} still present a minute after its removal");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_created)
            {
                await Client.Swarm.LeaveSwarmAsync(new SwarmLeaveParameters { Force = true });
                if (_removeGatewayBridge)
                {
                    await Client.Networks.DeleteNetworkAsync(GatewayBridge);
                }
            }
        }
        finally
        {
            Client.Dispose();
        }
    }
}
