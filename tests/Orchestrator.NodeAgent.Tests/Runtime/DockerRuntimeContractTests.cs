using Orchestrator.NodeAgent.Runtime;
using Orchestrator.NodeAgent.Runtime.Docker;
using Orchestrator.NodeAgent.Tests.Runtime.Docker;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Runtime;

/// <summary>The runtime contract against a real Docker daemon, plus what only the Docker runtime promises.</summary>
public sealed class DockerRuntimeContractTests(DockerFixture docker) : ContainerRuntimeContractTests, IClassFixture<DockerFixture>
{
    protected override bool ListensOnHostPort => false;

    protected override string NodeName => docker.NodeName;

    protected override ValueTask EnsureAvailableAsync()
    {
        if (docker.Missing is { } missing)
        {
            Integration.Need(false, missing.What, missing.How);
        }

        return ValueTask.CompletedTask;
    }

    protected override IContainerRuntime CreateRuntime() => CreateDockerRuntime(TimeSpan.FromSeconds(30));

    private DockerRuntime CreateDockerRuntime(TimeSpan pullTimeout) =>
        new(new DockerRuntimeOptions { NodeName = docker.NodeName, Endpoint = docker.Endpoint, PullTimeout = pullTimeout }, TimeProvider.System);

    protected override ReplicaLaunch WithShell(ReplicaLaunch launch, string script, IReadOnlyList<string> args) =>
        launch with { Image = docker.Image, Command = ["/bin/sh", "-c", script, "orc-sh", .. args] };

    [Fact]
    public async Task Limits_and_labels_are_visible_in_docker_inspect()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("while true; do $bb sleep 1; done", memoryBytes: 64L * 1024 * 1024) with { CpuMillis = 250 };

        var handle = await runtime.StartAsync(launch, TestContext.Current.CancellationToken);

        var inspect = await docker.Client.Containers.InspectContainerAsync(handle.RuntimeId, TestContext.Current.CancellationToken);
        Assert.Equal(64L * 1024 * 1024, inspect.HostConfig!.Memory);
        Assert.Equal(250_000_000L, inspect.HostConfig!.NanoCPUs);
        Assert.Equal($"/orc-{launch.ReplicaId}", inspect.Name);
        var labels = inspect.Config!.Labels!;
        Assert.Equal(launch.ReplicaId, labels[DockerRuntime.ReplicaLabel]);
        Assert.Equal("service/web", labels[DockerRuntime.OwnerLabel]);
        Assert.Equal("3", labels[DockerRuntime.RevisionLabel]);
        Assert.Equal("5", labels[DockerRuntime.GenerationLabel]);
        Assert.Equal(docker.NodeName, labels[DockerRuntime.NodeLabel]);
    }

    [Fact]
    public async Task Exec_runs_a_probe_command_inside_the_container_and_returns_its_exit_code()
    {
        var runtime = (DockerRuntime)await NewRuntimeAsync();
        var launch = Launch("while true; do $bb sleep 1; done");
        await runtime.StartAsync(launch, TestContext.Current.CancellationToken);
        using var cts = Bound();

        Assert.Equal(0, await runtime.ExecAsync(launch, ["/bin/sh", "-c", "test -n \"$ORC_REPLICA_ID\""], cts.Token));
        Assert.Equal(3, await runtime.ExecAsync(launch, ["/bin/sh", "-c", "exit 3"], cts.Token));
        Assert.NotEqual(0, await runtime.ExecAsync(launch, ["/no/such/program"], cts.Token));
    }

    [Fact]
    public async Task A_missing_image_fails_the_start_with_ImageNotFound_instead_of_hanging()
    {
        await EnsureAvailableAsync();
        using var runtime = CreateDockerRuntime(TimeSpan.FromSeconds(10));
        var launch = Launch("true") with { Image = "orc-test-no-such-image:never" };
        using var cts = Bound();

        var error = await Assert.ThrowsAsync<ReplicaStartException>(() => runtime.StartAsync(launch, cts.Token));

        Assert.Equal(ExitReasons.ImageNotFound, error.Reason);
        Assert.StartsWith(
            "ImageNotFound: image \"orc-test-no-such-image:never\" is not present on this node and could not be pulled (",
            error.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(await runtime.ListAsync(cts.Token), r => r.ReplicaId == launch.ReplicaId);
    }

    [Fact]
    public async Task A_pull_from_a_registry_that_never_answers_is_cut_off_by_the_pull_timeout()
    {
        await EnsureAvailableAsync();

        // A loopback "registry" that accepts connections and never says a word.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        using var runtime = CreateDockerRuntime(TimeSpan.FromSeconds(2));
        var launch = Launch("true") with { Image = $"127.0.0.1:{port}/orc-test/silent:1" };
        using var cts = Bound();

        var error = await Assert.ThrowsAsync<ReplicaStartException>(() => runtime.StartAsync(launch, cts.Token));

        Assert.Equal(ExitReasons.ImageNotFound, error.Reason);
        Assert.Contains("could not be pulled (", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_network_container_listens_on_the_host_port_given_in_PORT()
    {
        var runtime = await NewRuntimeAsync();
        var port = FreePort.Next();
        var launch = Launch(
            "$bb mkdir -p www\necho \"PORT=$PORT\" > www/index.html\nexec $bb httpd -f -p \"127.0.0.1:$PORT\" -h www",
            ports: [new ReplicaPort("http", 8080, port)]) with { HostNetwork = true };

        await runtime.StartAsync(launch, TestContext.Current.CancellationToken);

        Assert.Equal($"PORT={port}", (await GetUntilServedAsync(port)).Trim());
    }

    [Fact]
    public async Task A_replica_in_a_container_exceeding_its_memory_limit_is_marked_OOMKilled_by_docker()
    {
        var runtime = await NewRuntimeAsync();
        var launch = Launch("x=$($bb yes | $bb head -c 209715200)\n$bb sleep 600", memoryBytes: 32L * 1024 * 1024);
        using var cts = Bound();
        var events = runtime.WatchAsync(cts.Token);
        var handle = await runtime.StartAsync(launch, cts.Token);

        await NextExitAsync(events, launch.ReplicaId, cts.Token);

        var inspect = await docker.Client.Containers.InspectContainerAsync(handle.RuntimeId, cts.Token);
        Assert.True(inspect.State!.OOMKilled);
        var listed = Assert.Single(await runtime.ListAsync(cts.Token), r => r.ReplicaId == launch.ReplicaId);
        Assert.Equal(ExitReasons.OomKilled, listed.Reason);
    }
}
