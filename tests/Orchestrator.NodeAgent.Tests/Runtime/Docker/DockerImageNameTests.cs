using Orchestrator.NodeAgent.Runtime.Docker;

namespace Orchestrator.NodeAgent.Tests.Runtime.Docker;

public sealed class DockerImageNameTests
{
    [Theory]
    [InlineData("busybox", "busybox", "latest")]
    [InlineData("nginx:1.27", "nginx", "1.27")]
    [InlineData("registry.local:5000/team/web", "registry.local:5000/team/web", "latest")]
    [InlineData("registry.local:5000/team/web:2", "registry.local:5000/team/web", "2")]
    [InlineData("web@sha256:abc", "web@sha256:abc", "")]
    public void An_image_reference_splits_into_repository_and_tag(string image, string repository, string tag)
    {
        Assert.Equal((repository, tag), DockerRuntime.SplitImage(image));
    }
}
