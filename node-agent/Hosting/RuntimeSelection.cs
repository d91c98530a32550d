using Docker.DotNet;
using Microsoft.Extensions.Logging;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.NodeAgent.Runtime.Docker;
using Orchestrator.NodeAgent.Runtime.Process;

namespace Orchestrator.NodeAgent.Hosting;

/// <summary>
/// The runtimes a node offers, and why (printed by <c>orc dev</c> and logged by <c>orc-agent</c>):
/// <c>--runtime auto</c> offers processes always and Docker too when a daemon answers.
/// </summary>
public sealed class RuntimeSelection : IAsyncDisposable
{
    private RuntimeSelection(IReadOnlyList<IContainerRuntime> runtimes, string description)
    {
        Runtimes = runtimes;
        Description = description;
    }

    public IReadOnlyList<IContainerRuntime> Runtimes { get; }

    /// <summary>For example <c>process (no Docker daemon answered at unix:///var/run/docker.sock)</c>.</summary>
    public string Description { get; }

    public ProcessRuntime? Process => Runtimes.OfType<ProcessRuntime>().FirstOrDefault();

    public IReadOnlyList<string> Drivers => [.. Runtimes.Select(r => r.Name)];

    /// <summary>Asks the Docker daemon (<c>DOCKER_HOST</c> or the local socket) for its version; null when none answers.</summary>
    public static async Task<string?> DockerVersionAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new DockerClientBuilder().WithEndpoint(endpoint).Build();
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(3));
            var version = await client.System.GetVersionAsync(cts.Token);
            return version.Version;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or DockerApiException or OperationCanceledException or TimeoutException
            or System.Net.Sockets.SocketException or ArgumentException or NotSupportedException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return null;
        }
    }

    /// <summary>Describes what <paramref name="mode"/> would pick given the daemon's answer, without creating runtimes.</summary>
    public static string Describe(RuntimeMode mode, Uri dockerEndpoint, string? dockerVersion) => mode switch
    {
        RuntimeMode.Process => "process (--runtime process)",
        RuntimeMode.Docker => $"docker (Docker {dockerVersion} answered at {dockerEndpoint})",
        _ when dockerVersion is null => $"process (no Docker daemon answered at {dockerEndpoint})",
        _ => $"docker and process (Docker {dockerVersion} answered)",
    };

    /// <summary>
    /// Throws <see cref="InvalidOperationException"/>, saying what to do, when <paramref name="mode"/>
    /// is <c>docker</c> and no daemon answered (<paramref name="dockerVersion"/> is null).
    /// </summary>
    public static void EnsureRunnable(RuntimeMode mode, string? dockerVersion)
    {
        if (mode == RuntimeMode.Docker && dockerVersion is null)
        {
            throw new InvalidOperationException(
                $"--runtime docker: no Docker daemon answered at {DockerRuntimeOptions.DefaultEndpoint()}; start dockerd, set DOCKER_HOST, or use --runtime process");
        }
    }

    /// <summary>
    /// Creates the runtimes for <paramref name="options"/>, given what <see cref="DockerVersionAsync"/>
    /// answered (null: no daemon). Throws <see cref="InvalidOperationException"/> with a message saying
    /// what to do when <c>--runtime docker</c> has no daemon or the process runtime cannot run here.
    /// </summary>
    public static RuntimeSelection Create(NodeAgentOptions options, string? dockerVersion, TimeProvider time, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var endpoint = DockerRuntimeOptions.DefaultEndpoint();
        EnsureRunnable(options.Runtime, dockerVersion);
        if (options.Runtime == RuntimeMode.Process)
        {
            dockerVersion = null;
        }

        var runtimes = new List<IContainerRuntime>();
        try
        {
            if (dockerVersion is not null)
            {
                runtimes.Add(new DockerRuntime(new DockerRuntimeOptions { NodeName = options.NodeName, Endpoint = endpoint, Scope = options.RuntimeScope }, time, loggerFactory.CreateLogger<DockerRuntime>()));
            }

            if (options.Runtime != RuntimeMode.Docker)
            {
                runtimes.Add(new ProcessRuntime(new ProcessRuntimeOptions { StateDirectory = options.StateDirectory }, time, loggerFactory.CreateLogger<ProcessRuntime>()));
            }
        }
        catch
        {
            foreach (var runtime in runtimes.OfType<IDisposable>())
            {
                runtime.Dispose();
            }

            throw;
        }

        return new RuntimeSelection(runtimes, Describe(options.Runtime, endpoint, dockerVersion));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var runtime in Runtimes)
        {
            switch (runtime)
            {
                case IAsyncDisposable asyncDisposable:
                    await asyncDisposable.DisposeAsync();
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }
        }
    }
}
