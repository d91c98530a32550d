using System.Formats.Tar;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Orchestrator.TestSupport;

/// <summary>Images the Docker tests build locally (there is no registry to pull from; see MACHINE.md).</summary>
public static class TestImages
{
    /// <summary>
    /// Builds <paramref name="tag"/> from <c>testassets/images/busybox/Dockerfile</c> (FROM scratch)
    /// with this machine's static <paramref name="busybox"/>, and checks that the daemon has it.
    /// </summary>
    public static async Task BuildBusyboxAsync(DockerClient client, string tag, string busybox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var context = new MemoryStream();
        await using (var tar = new TarWriter(context, leaveOpen: true))
        {
            await tar.WriteEntryAsync(Path.Combine(AppContext.BaseDirectory, "testassets", "images", "busybox", "Dockerfile"), "Dockerfile", cancellationToken);
            await tar.WriteEntryAsync(busybox, "busybox", cancellationToken);
        }

        context.Position = 0;
        var errors = new List<string>();
        await client.Images.BuildImageFromDockerfileAsync(
            new ImageBuildParameters { Tags = [tag], Dockerfile = "Dockerfile", Remove = true, ForceRemove = true },
            context,
            authConfigs: null,
            headers: null,
            new Progress<JSONMessage>(m =>
            {
                if (m.Error?.Message is { Length: > 0 } error)
                {
                    errors.Add(error);
                }
            }),
            cancellationToken);

        try
        {
            await client.Images.InspectImageAsync(tag, cancellationToken);
        }
        catch (DockerImageNotFoundException ex)
        {
            throw new InvalidOperationException($"building the test image {tag} failed: {string.Join("; ", errors)}", ex);
        }
    }
}
