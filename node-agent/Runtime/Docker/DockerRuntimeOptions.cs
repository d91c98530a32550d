namespace Orchestrator.NodeAgent.Runtime.Docker;

/// <summary>Settings of <see cref="DockerRuntime"/>.</summary>
public sealed record DockerRuntimeOptions
{
    /// <summary>
    /// This node's name. Containers are labelled <c>orc.node=&lt;name&gt;</c>, and the runtime lists
    /// and watches only those, so several agents can share one daemon.
    /// </summary>
    public required string NodeName { get; init; }

    /// <summary>
    /// Which cluster's containers these are, when node names alone do not tell (every <c>orc dev</c>
    /// calls its nodes node-1, node-2, ...). When set, containers are also labelled
    /// <c>orc.scope=&lt;scope&gt;</c> and the runtime lists and watches only those, so two dev
    /// clusters on one daemon never adopt, stop or remove each other's containers.
    /// </summary>
    public string? Scope { get; init; }

    /// <summary>The daemon; null means <c>DOCKER_HOST</c>, else <c>unix:///var/run/docker.sock</c> (as the docker CLI).</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>How long a pull of a missing image may take before the start fails with <c>ImageNotFound</c>.</summary>
    public TimeSpan PullTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on any one daemon call that is not a stop, a pull or a log/event stream.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>json-file log rotation per container: size of one file.</summary>
    public string LogMaxSize { get; init; } = "10m";

    /// <summary>json-file log rotation per container: files kept.</summary>
    public int LogMaxFiles { get; init; } = 3;

    /// <summary>The endpoint the docker CLI would use: <c>DOCKER_HOST</c>, else the local socket.</summary>
    public static Uri DefaultEndpoint()
    {
        var host = System.Environment.GetEnvironmentVariable("DOCKER_HOST");
        return new Uri(string.IsNullOrWhiteSpace(host) ? "unix:///var/run/docker.sock" : host);
    }
}
