using Docker.DotNet;
using Docker.DotNet.Models;
using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Runtime.Docker;
using Orchestrator.TestSupport;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>
/// A Docker daemon and the busybox test image (tests/testassets/images/busybox, built offline from
/// the host's static busybox with a unique tag, deleted at the end). When either is missing,
/// <see cref="Missing"/> says what and how to get it, and the tests skip (or fail under
/// <c>ORC_REQUIRE_INTEGRATION=1</c>).
/// </summary>
public sealed class BusyboxImage : IAsyncLifetime
{
    private const string Busybox = "/bin/busybox";

    private DockerClient? _client;

    public Uri Endpoint { get; } = DockerRuntimeOptions.DefaultEndpoint();

    public string Image { get; } = $"orc-e2e-busybox:{Guid.NewGuid():N}";

    /// <summary>Null when the daemon answers and the image is built; otherwise why not.</summary>
    public string? Missing { get; private set; }

    public DockerClient Client => _client ?? throw new InvalidOperationException("the Docker client is not available");

    public async ValueTask InitializeAsync()
    {
        if (await RuntimeSelection.DockerVersionAsync(Endpoint, CancellationToken.None) is null)
        {
            Missing = $"no Docker daemon answered at {Endpoint}: install and start one (`apt-get install docker.io && dockerd &`), or point DOCKER_HOST at one";
            return;
        }

        if (!File.Exists(Busybox))
        {
            Missing = $"{Busybox} is missing: the test image is built from it; install it with `apt-get install busybox-static`";
            return;
        }

        var builder = new DockerClientBuilder().WithEndpoint(Endpoint);
        // The daemon here may be older than the client's default API version (engine 20.10 speaks 1.41).
        if (System.Version.TryParse(Environment.GetEnvironmentVariable("DOCKER_API_VERSION"), out var apiVersion))
        {
            builder = builder.WithApiVersion(apiVersion);
        }

        _client = builder.Build();
        await BuildAsync();
    }

    private Task BuildAsync() => TestImages.BuildBusyboxAsync(Client, Image, Busybox);

    /// <summary>
    /// The service the Docker tests run: 2 replicas of busybox <c>httpd</c> on the mapped port,
    /// serving <paramref name="page"/> (shell-expanded in the container) at <c>/</c>, ready when
    /// it answers; <paramref name="more"/> adds spec lines (placement, update strategy).
    /// </summary>
    public string WebService(string page = "$ORC_REPLICA_ID", string more = "") => $$"""
        kind: Service
        name: web
        replicas: 2
        driver: docker
        image: {{Image}}
        command: ["sh", "-c", "mkdir -p /www && echo \"{{page}}\" > /www/index.html && exec httpd -f -p ${PORT} -h /www"]
        resources: { cpu: 100m, memory: 32Mi }
        ports:
          - { name: http, port: 8080 }
        health:
          readiness: { http: /, port: http, interval: 1s, timeout: 1s, failureThreshold: 2 }
        restart: always
        stopGracePeriod: 2s
        {{more}}
        """;

    /// <summary>A 2-node cluster on the Docker runtime; skips (or fails under <c>ORC_REQUIRE_INTEGRATION=1</c>) when <see cref="Missing"/> says why it cannot.</summary>
    internal async Task<TestCluster> StartClusterAsync()
    {
        if (Missing is { } missing)
        {
            Integration.Unavailable(missing);
        }

        return await TestCluster.StartAsync(nodes: 2, runtime: RuntimeMode.Docker);
    }

    /// <summary>Stops <paramref name="cluster"/> (which removes its containers), then removes whatever of the replicas a failed test left behind.</summary>
    internal async Task StopClusterAsync(TestCluster? cluster, IEnumerable<string> replicaIds)
    {
        if (cluster is not null)
        {
            await cluster.DisposeAsync();
        }

        if (Missing is null)
        {
            foreach (var container in await ContainersOfAsync(replicaIds))
            {
                await Client.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
            }
        }
    }

    /// <summary>Containers (running or not) of the given replicas, whoever started them.</summary>
    public async Task<IList<ContainerListResponse>> ContainersOfAsync(IEnumerable<string> replicaIds)
    {
        var ids = replicaIds.ToHashSet(StringComparer.Ordinal);
        var all = await Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [DockerRuntime.ReplicaLabel] = true },
            },
        });
        return [.. all.Where(c => c.Labels.TryGetValue(DockerRuntime.ReplicaLabel, out var id) && ids.Contains(id))];
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is null)
        {
            return;
        }

        try
        {
            await _client.Images.DeleteImageAsync(Image, new ImageDeleteParameters { Force = true });
        }
        catch (DockerImageNotFoundException)
        {
            // The build failed before tagging it.
        }

        _client.Dispose();
    }
}
