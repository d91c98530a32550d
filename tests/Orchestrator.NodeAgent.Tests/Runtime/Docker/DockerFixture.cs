using Docker.DotNet;
using Docker.DotNet.Models;
using Orchestrator.NodeAgent.Runtime.Docker;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Runtime.Docker;

/// <summary>
/// A real Docker daemon for the runtime tests: checks that one answers, builds the busybox test
/// image once with a unique tag, and at the end removes every container labelled with this
/// fixture's node name and the image.
/// </summary>
public sealed class DockerFixture : IAsyncLifetime
{
    private const string Busybox = "/bin/busybox";

    private DockerClient? _client;

    public Uri Endpoint { get; } = DockerRuntimeOptions.DefaultEndpoint();

    /// <summary>Unique per run: containers carry it as <c>orc.node</c>, so cleanup never touches anyone else's.</summary>
    public string NodeName { get; } = $"node-{Guid.NewGuid():N}"[..17];

    public string Image { get; } = $"orc-test-busybox:{Guid.NewGuid():N}";

    /// <summary>Null when everything is ready; otherwise what is missing and how to get it.</summary>
    public (string What, string How)? Missing { get; private set; }

    public DockerClient Client => _client ?? throw new InvalidOperationException("the Docker client is not available");

    public async ValueTask InitializeAsync()
    {
        var builder = new DockerClientBuilder().WithEndpoint(Endpoint);
        if (System.Version.TryParse(System.Environment.GetEnvironmentVariable("DOCKER_API_VERSION"), out var apiVersion))
        {
            builder = builder.WithApiVersion(apiVersion);
        }

        _client = builder.Build();
        using (var runtime = new DockerRuntime(new DockerRuntimeOptions { NodeName = NodeName, Endpoint = Endpoint }, TimeProvider.System))
        {
            if (!await runtime.IsAvailableAsync(CancellationToken.None))
            {
                Missing = ($"a Docker daemon at {Endpoint}", "install and start one (`apt-get install docker.io && dockerd &`), or point DOCKER_HOST at one");
                return;
            }
        }

        if (!File.Exists(Busybox))
        {
            Missing = (Busybox, "the test image is built from it; install it with `apt-get install busybox-static`");
            return;
        }

        await BuildImageAsync();
    }

    private Task BuildImageAsync() => TestImages.BuildBusyboxAsync(Client, Image, Busybox);

    public async ValueTask DisposeAsync()
    {
        if (_client is null)
        {
            return;
        }

        if (Missing is null)
        {
            var ours = await _client.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["label"] = new Dictionary<string, bool> { [$"{DockerRuntime.NodeLabel}={NodeName}"] = true },
                },
            });
            foreach (var container in ours)
            {
                await _client.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
            }

            try
            {
                await _client.Images.DeleteImageAsync(Image, new ImageDeleteParameters { Force = true });
            }
            catch (DockerImageNotFoundException)
            {
                // The build failed before tagging it.
            }
        }

        _client.Dispose();
    }
}
