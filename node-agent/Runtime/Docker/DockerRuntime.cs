using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.NodeAgent.Health;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Orchestrator.NodeAgent.Runtime.Docker;

/// <summary>
/// Runs replicas as Docker containers through the Engine API. Each container is named
/// <c>orc-&lt;replica id&gt;</c> (so the daemon itself refuses a second copy) and labelled with the
/// replica, owner, revision, generation and node, so a restarted agent re-adopts by label.
/// Exit codes and OOM kills come from the daemon's own record (<c>State.ExitCode</c>,
/// <c>State.OOMKilled</c>); exits arrive through the events API. See ADR 0011.
/// </summary>
public sealed partial class DockerRuntime : IContainerRuntime, IReplicaLogs, IProbeExec, IDisposable
{
    public const string ReplicaLabel = "orc.replica";
    public const string OwnerLabel = "orc.owner";
    public const string RevisionLabel = "orc.revision";
    public const string GenerationLabel = "orc.generation";
    public const string NodeLabel = "orc.node";
    public const string ScopeLabel = "orc.scope";

    private const string NamePrefix = "orc-";

    private readonly DockerRuntimeOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly DockerClient _client;
    private readonly ResiliencePipeline _calls;
    private readonly CancellationTokenSource _disposed = new();

    public DockerRuntime(DockerRuntimeOptions options, TimeProvider timeProvider, ILogger<DockerRuntime>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (string.IsNullOrWhiteSpace(options.NodeName))
        {
            throw new ArgumentException("the docker runtime needs the node's name (it labels and finds containers by it)", nameof(options));
        }

        _options = options;
        _timeProvider = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Endpoint = options.Endpoint ?? DockerRuntimeOptions.DefaultEndpoint();
        var builder = new DockerClientBuilder().WithEndpoint(Endpoint);
        if (System.Version.TryParse(System.Environment.GetEnvironmentVariable("DOCKER_API_VERSION"), out var apiVersion))
        {
            builder = builder.WithApiVersion(apiVersion);
        }

        _client = builder.Build();

        // Idempotent reads and removals retry on a broken connection; each attempt is bounded.
        _calls = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<IOException>(),
                MaxRetryAttempts = 3,
                Delay = TimeSpan.FromMilliseconds(200),
                BackoffType = DelayBackoffType.Exponential,
            })
            .AddTimeout(options.CallTimeout)
            .Build();
    }

    public string Name => "docker";

    /// <summary>The daemon this runtime talks to.</summary>
    public Uri Endpoint { get; }

    /// <summary>Whether the daemon answers (for <c>--runtime auto</c>).</summary>
    public async Task<bool> IsAvailableAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(5));
            await _client.System.PingAsync(cts.Token);
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or DockerApiException or OperationCanceledException or TimeoutException
            or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    public async Task<ReplicaHandle> StartAsync(ReplicaLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ReplicaIds.Validate(launch.ReplicaId);
        try
        {
            return await StartCoreAsync(launch, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutRejectedException or System.Net.Sockets.SocketException)
        {
            throw new ReplicaStartException(
                ExitReasons.StartFailed,
                $"replica {launch.ReplicaId}: the Docker daemon at {Endpoint} did not answer ({ex.Message}); is dockerd running, and DOCKER_HOST right?",
                ex);
        }
    }

    private async Task<ReplicaHandle> StartCoreAsync(ReplicaLaunch launch, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(launch.Image))
        {
            throw new ReplicaStartException(ExitReasons.StartFailed, $"replica {launch.ReplicaId}: a docker replica needs an image");
        }

        var name = ContainerName(launch.ReplicaId);
        var existing = await InspectOrNullAsync(name, cancellationToken);
        if (existing is not null)
        {
            if (existing.State?.Running == true)
            {
                return new ReplicaHandle(launch.ReplicaId, existing.ID, AlreadyRunning: true);
            }

            // An earlier run that ended: replaced by this one.
            await RemoveContainerAsync(name, cancellationToken);
        }

        await EnsureImageAsync(launch, cancellationToken);

        var env = ReplicaEnvironment.Build(launch, launch.HostNetwork ? PortView.HostPort : PortView.ContainerPort);
        var parameters = new CreateContainerParameters
        {
            Name = name,
            Image = launch.Image,
            Env = [.. env.Select(kv => $"{kv.Key}={kv.Value}")],
            Labels = new Dictionary<string, string>
            {
                [ReplicaLabel] = launch.ReplicaId,
                [OwnerLabel] = $"{launch.OwnerKind}/{launch.OwnerName}",
                [RevisionLabel] = launch.Revision.ToString(CultureInfo.InvariantCulture),
                [GenerationLabel] = launch.Generation.ToString(CultureInfo.InvariantCulture),
                [NodeLabel] = _options.NodeName,
            },
            StopSignal = "SIGTERM",
            StopTimeout = TimeSpan.FromSeconds(Math.Ceiling(launch.StopGrace.TotalSeconds)),
            HostConfig = new HostConfig
            {
                Memory = launch.MemoryBytes,

                // Memory+swap equal to memory: no swap, so exceeding the limit is an OOM kill, not a slowdown.
                MemorySwap = launch.MemoryBytes > 0 ? launch.MemoryBytes : 0,
                NanoCPUs = launch.CpuMillis * 1_000_000,
                LogConfig = new LogConfig
                {
                    Type = "json-file",
                    Config = new Dictionary<string, string>
                    {
                        ["max-size"] = _options.LogMaxSize,
                        ["max-file"] = _options.LogMaxFiles.ToString(CultureInfo.InvariantCulture),
                    },
                },
            },
        };

        if (!string.IsNullOrEmpty(_options.Scope))
        {
            parameters.Labels[ScopeLabel] = _options.Scope;
        }

        if (launch.Command.Count > 0)
        {
            parameters.Entrypoint = [.. ReplicaEnvironment.Expand(launch.Command, env)];
            parameters.Cmd = [.. ReplicaEnvironment.Expand(launch.Args, env)];
        }
        else if (launch.Args.Count > 0)
        {
            parameters.Cmd = [.. ReplicaEnvironment.Expand(launch.Args, env)];
        }

        if (launch.HostNetwork)
        {
            parameters.HostConfig.NetworkMode = "host";
        }
        else if (launch.Ports.Count > 0)
        {
            parameters.ExposedPorts = launch.Ports.ToDictionary(p => $"{p.ContainerPort}/tcp", _ => new EmptyStruct());
            parameters.HostConfig.PortBindings = launch.Ports.ToDictionary(
                p => $"{p.ContainerPort}/tcp",
                p => (IList<PortBinding>)[new PortBinding { HostIP = launch.NodeAddress, HostPort = p.HostPort.ToString(CultureInfo.InvariantCulture) }]);
        }

        CreateContainerResponse created;
        try
        {
            created = await _client.Containers.CreateContainerAsync(parameters, cancellationToken);
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.Conflict)
        {
            // Another start of the same replica won the race: the daemon's name uniqueness keeps one copy.
            var winner = await InspectOrNullAsync(name, cancellationToken);
            return new ReplicaHandle(launch.ReplicaId, winner?.ID ?? name, AlreadyRunning: true);
        }
        catch (DockerApiException ex)
        {
            throw new ReplicaStartException(ExitReasons.StartFailed, $"replica {launch.ReplicaId}: docker refused to create the container: {DaemonMessage(ex)}", ex);
        }

        try
        {
            await _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cancellationToken);
        }
        catch (DockerApiException ex)
        {
            // A container that cannot start (port taken, bad entrypoint) is removed so the next start is clean.
            await RemoveContainerAsync(created.ID, CancellationToken.None);
            var reason = ex.StatusCode == HttpStatusCode.BadRequest && DaemonMessage(ex).Contains("executable file not found", StringComparison.Ordinal)
                ? ExitReasons.CommandNotFound
                : ExitReasons.StartFailed;
            throw new ReplicaStartException(reason, $"replica {launch.ReplicaId}: docker could not start the container: {DaemonMessage(ex)}", ex);
        }

        LogStarted(_logger, launch.ReplicaId, created.ID[..12], launch.Image);
        return new ReplicaHandle(launch.ReplicaId, created.ID, AlreadyRunning: false);
    }

    public async Task StopAsync(string replicaId, TimeSpan grace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        var container = await InspectOrNullAsync(ContainerName(replicaId), cancellationToken);
        if (container?.State?.Running != true)
        {
            return;
        }

        // The daemon sends the stop signal (SIGTERM), waits, then SIGKILL; it counts in whole seconds.
        var seconds = (uint)Math.Ceiling(Math.Max(grace.TotalSeconds, 0));
        try
        {
            await _client.Containers.StopContainerAsync(container.ID, new ContainerStopParameters { WaitBeforeKillSeconds = seconds }, cancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            // Removed meanwhile: stopped is what was asked for.
        }
    }

    public async Task RemoveAsync(string replicaId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        await RemoveContainerAsync(ContainerName(replicaId), cancellationToken);
    }

    public async Task<IReadOnlyList<RuntimeReplica>> ListAsync(CancellationToken cancellationToken)
    {
        var containers = await _calls.ExecuteAsync(
            async ct => await _client.Containers.ListContainersAsync(
                new ContainersListParameters { All = true, Filters = LabelFilter() },
                ct),
            cancellationToken);

        var result = new List<RuntimeReplica>();
        foreach (var summary in containers)
        {
            if (await InspectOrNullAsync(summary.ID, cancellationToken) is { } container)
            {
                result.Add(ToReplica(container));
            }
        }

        return [.. result.OrderBy(r => r.ReplicaId, StringComparer.Ordinal)];
    }

    public IAsyncEnumerable<RuntimeEvent> WatchAsync(CancellationToken cancellationToken)
    {
        // Subscribe now: the daemon replays events since this moment, so nothing between this call and
        // the first MoveNextAsync is lost.
        var since = _timeProvider.GetUtcNow();
        var channel = Channel.CreateUnbounded<RuntimeEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        // The pump stops when the watcher cancels or the runtime is disposed, whichever comes first.
        var pumpCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        _ = PumpEventsAsync(since, channel.Writer, pumpCancellation.Token).ContinueWith(
            _ => pumpCancellation.Dispose(),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return channel.Reader.ReadAllAsync(cancellationToken);
    }

    public async IAsyncEnumerable<LogLine> ReadLogsAsync(
        string replicaId,
        int? tail,
        bool follow,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        MultiplexedStream stream;
        try
        {
            stream = await _client.Containers.GetContainerLogsAsync(
                ContainerName(replicaId),
                new ContainerLogsParameters
                {
                    ShowStdout = true,
                    ShowStderr = true,
                    Follow = follow,
                    Tail = tail is { } n ? Math.Max(n, 0).ToString(CultureInfo.InvariantCulture) : "all",
                },
                cancellationToken);
        }
        catch (DockerContainerNotFoundException ex)
        {
            throw new KeyNotFoundException($"no logs for replica {replicaId} on this node (no such container; docker logs go with the container)", ex);
        }

        using (stream)
        {
            var buffer = new byte[16 * 1024];
            var pending = new Dictionary<LogStream, StringBuilder> { [LogStream.Stdout] = new(), [LogStream.Stderr] = new() };
            var decoders = new Dictionary<LogStream, Decoder> { [LogStream.Stdout] = Encoding.UTF8.GetDecoder(), [LogStream.Stderr] = Encoding.UTF8.GetDecoder() };
            var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
            while (true)
            {
                var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken);
                if (read.EOF)
                {
                    break;
                }

                var target = read.Target == MultiplexedStream.TargetStream.StandardError ? LogStream.Stderr : LogStream.Stdout;
                var count = decoders[target].GetChars(buffer, 0, read.Count, chars, 0);
                var text = pending[target].Append(chars, 0, count).ToString();
                var start = 0;
                for (var newline = text.IndexOf('\n', start); newline >= 0; newline = text.IndexOf('\n', start))
                {
                    yield return new LogLine(target, text[start..newline].TrimEnd('\r'));
                    start = newline + 1;
                }

                pending[target].Clear().Append(text, start, text.Length - start);
            }

            foreach (var (target, rest) in pending)
            {
                if (rest.Length > 0)
                {
                    yield return new LogLine(target, rest.ToString());
                }
            }
        }
    }

    public void Dispose()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        // Containers keep running: a new runtime finds them by label.
        _disposed.Cancel();
        _client.Dispose();
        _disposed.Dispose();
    }

    /// <summary>Turns the daemon's event stream into runtime events, reconnecting (from the last event) if it breaks.</summary>
    private async Task PumpEventsAsync(DateTimeOffset since, ChannelWriter<RuntimeEvent> writer, CancellationToken cancellationToken)
    {
        var attempt = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var messages = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
                var monitor = MonitorAsync(since, messages.Writer, cancellationToken);
                await foreach (var message in messages.Reader.ReadAllAsync(cancellationToken))
                {
                    attempt = 0;
                    since = DateTimeOffset.FromUnixTimeMilliseconds((message.TimeNano ?? 0) / 1_000_000);
                    if (await ToEventAsync(message, cancellationToken) is { } runtimeEvent)
                    {
                        await writer.WriteAsync(runtimeEvent, cancellationToken);
                    }
                }

                if (await monitor is { } failure && !cancellationToken.IsCancellationRequested)
                {
                    LogEventsBroken(_logger, failure.Message);
                    attempt++;
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(200 * Math.Pow(2, attempt), 5000)), _timeProvider, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The watcher went away.
        }
        finally
        {
            writer.TryComplete();
        }
    }

    /// <summary>Runs one events request; returns the error that ended it, or null when cancelled.</summary>
    private async Task<Exception?> MonitorAsync(DateTimeOffset since, ChannelWriter<Message> messages, CancellationToken cancellationToken)
    {
        try
        {
            var filters = LabelFilter();
            filters["type"] = new Dictionary<string, bool> { ["container"] = true };
            filters["event"] = new Dictionary<string, bool> { ["start"] = true, ["die"] = true };
            await _client.System.MonitorEventsAsync(
                new ContainerEventsParameters
                {
                    Since = since.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture) + "." + (since.Millisecond * 1_000_000).ToString("D9", CultureInfo.InvariantCulture),
                    Filters = filters,
                },
                new SynchronousProgress<Message>(m => messages.TryWrite(m)),
                cancellationToken);
            return new IOException("the daemon closed the event stream");
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or DockerApiException or System.Net.Sockets.SocketException)
        {
            return ex;
        }
        finally
        {
            messages.TryComplete();
        }
    }

    private async Task<RuntimeEvent?> ToEventAsync(Message message, CancellationToken cancellationToken)
    {
        var attributes = message.Actor?.Attributes ?? new Dictionary<string, string>();
        if (!attributes.TryGetValue(ReplicaLabel, out var replicaId))
        {
            return null;
        }

        var time = DateTimeOffset.FromUnixTimeMilliseconds((message.TimeNano ?? 0) / 1_000_000);
        switch (message.Action)
        {
            case "start":
                return new RuntimeEvent(RuntimeEventKind.Started, replicaId, time, RuntimeId: message.Actor?.ID ?? "");
            case "die":
                // The daemon's record is the truth (it knows about OOM kills); the event attributes are the fallback.
                ContainerInspectResponse? container;
                try
                {
                    container = await InspectOrNullAsync(message.Actor!.ID, cancellationToken);
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutRejectedException or DockerApiException)
                {
                    container = null;
                }

                int? code = container?.State is { } state ? (int)state.ExitCode
                    : attributes.TryGetValue("exitCode", out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed
                    : null;
                var reason = container?.State?.OOMKilled == true ? ExitReasons.OomKilled
                    : code is { } c ? ExitReasons.ForExitCode(c)
                    : ExitReasons.Unknown;
                return new RuntimeEvent(RuntimeEventKind.Exited, replicaId, time, code, reason, message.Actor?.ID ?? "");
            default:
                return null;
        }
    }

    /// <summary>
    /// Exec probes: runs <paramref name="command"/> inside the replica's container (like
    /// <c>docker exec</c>) with the container's environment, <c>${VAR}</c> expanded from the
    /// replica's, and returns its exit code. Output is read and discarded.
    /// </summary>
    public async Task<int> ExecAsync(ReplicaLaunch replica, IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replica);
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0)
        {
            throw new ArgumentException("exec probe has an empty command", nameof(command));
        }

        var env = ReplicaEnvironment.Build(replica, replica.HostNetwork ? PortView.HostPort : PortView.ContainerPort);
        var expanded = ReplicaEnvironment.Expand(command, env);
        try
        {
            var exec = await _client.Exec.CreateContainerExecAsync(
                ContainerName(replica.ReplicaId),
                new ContainerExecCreateParameters { Cmd = [.. expanded], AttachStdout = true, AttachStderr = true },
                cancellationToken);
            using (var stream = await _client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters(), cancellationToken))
            {
                await stream.ReadOutputToEndAsync(cancellationToken);
            }

            var inspected = await _client.Exec.InspectContainerExecAsync(exec.ID, cancellationToken);
            return (int)(inspected.ExitCode ?? 126);
        }
        catch (DockerApiException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ProbeExecException($"cannot exec \"{expanded[0]}\" in the container of {replica.ReplicaId}: {DaemonMessage(ex)}", ex);
        }
    }

    private async Task EnsureImageAsync(ReplicaLaunch launch, CancellationToken cancellationToken)
    {
        if (await ImageExistsAsync(launch.Image, cancellationToken))
        {
            return;
        }

        // Not here: one pull, bounded, so a node without a registry fails fast instead of hanging.
        string detail;
        using var pullTimeout = new CancellationTokenSource(_options.PullTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, pullTimeout.Token);
        var (repository, tag) = SplitImage(launch.Image);
        var errors = new List<string>();
        try
        {
            await _client.Images.CreateImageAsync(
                new ImagesCreateParameters { FromImage = repository, Tag = tag },
                authConfig: null,
                new SynchronousProgress<JSONMessage>(m =>
                {
                    if (m.Error?.Message is { Length: > 0 } error)
                    {
                        errors.Add(error);
                    }
                }),
                linked.Token);
            detail = errors.Count > 0 ? string.Join("; ", errors) : "the pull finished without the image";
        }
        catch (OperationCanceledException) when (pullTimeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            detail = $"the pull did not finish within {_options.PullTimeout.TotalSeconds:0}s";
        }
        catch (DockerApiException ex)
        {
            detail = DaemonMessage(ex);
        }

        if (!await ImageExistsAsync(launch.Image, cancellationToken))
        {
            LogImageNotFound(_logger, launch.ReplicaId, launch.Image, detail);
            throw new ReplicaStartException(
                ExitReasons.ImageNotFound,
                $"image \"{launch.Image}\" is not present on this node and could not be pulled ({detail}); build or load it on the node (docker build / docker load), or make its registry reachable");
        }
    }

    private async Task<bool> ImageExistsAsync(string image, CancellationToken cancellationToken)
    {
        try
        {
            await _calls.ExecuteAsync(async ct => await _client.Images.InspectImageAsync(image, ct), cancellationToken);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    private async Task<ContainerInspectResponse?> InspectOrNullAsync(string nameOrId, CancellationToken cancellationToken)
    {
        try
        {
            return await _calls.ExecuteAsync(async ct => await _client.Containers.InspectContainerAsync(nameOrId, ct), cancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task RemoveContainerAsync(string nameOrId, CancellationToken cancellationToken)
    {
        try
        {
            await _calls.ExecuteAsync(
                async ct => await _client.Containers.RemoveContainerAsync(nameOrId, new ContainerRemoveParameters { Force = true }, ct),
                cancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            // Already gone.
        }
        catch (DockerApiException ex) when (ex.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            // Gone, or its removal is already in progress.
        }
    }

    private static RuntimeReplica ToReplica(ContainerInspectResponse container)
    {
        IReadOnlyDictionary<string, string> labels = container.Config?.Labels is { } set ? new Dictionary<string, string>(set) : [];
        var owner = labels.GetValueOrDefault(OwnerLabel, "/").Split('/', 2);
        var state = container.State;
        var running = state?.Running == true;
        int? exitCode = running || state is null || string.Equals(state.Status, "created", StringComparison.Ordinal) ? null : (int)state.ExitCode;
        var reason = running ? ""
            : state?.OOMKilled == true ? ExitReasons.OomKilled
            : string.Equals(state?.Status, "created", StringComparison.Ordinal) ? ExitReasons.StartFailed
            : exitCode is { } c ? ExitReasons.ForExitCode(c)
            : ExitReasons.Unknown;
        return new RuntimeReplica
        {
            ReplicaId = labels.GetValueOrDefault(ReplicaLabel, container.Name.TrimStart('/')),
            OwnerKind = owner[0],
            OwnerName = owner.Length > 1 ? owner[1] : "",
            Revision = long.TryParse(labels.GetValueOrDefault(RevisionLabel), NumberStyles.Integer, CultureInfo.InvariantCulture, out var revision) ? revision : 0,
            Generation = long.TryParse(labels.GetValueOrDefault(GenerationLabel), NumberStyles.Integer, CultureInfo.InvariantCulture, out var generation) ? generation : 0,
            NodeName = labels.GetValueOrDefault(NodeLabel, ""),
            RuntimeId = container.ID,
            State = running ? ReplicaState.Running : ReplicaState.Exited,
            ExitCode = exitCode,
            Reason = reason,
            StartedAt = ParseDaemonTime(state?.StartedAt),
            FinishedAt = running ? null : ParseDaemonTime(state?.FinishedAt),
        };
    }

    private Dictionary<string, IDictionary<string, bool>> LabelFilter()
    {
        // Several label conditions must all hold.
        var labels = new Dictionary<string, bool> { [$"{NodeLabel}={_options.NodeName}"] = true };
        if (!string.IsNullOrEmpty(_options.Scope))
        {
            labels[$"{ScopeLabel}={_options.Scope}"] = true;
        }

        return new() { ["label"] = labels };
    }

    /// <summary>The daemon's zero time (<c>0001-01-01T00:00:00Z</c>) means "never".</summary>
    private static DateTimeOffset? ParseDaemonTime(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) && time.Year > 1 ? time : null;

    private static string ContainerName(string replicaId) => NamePrefix + replicaId;

    /// <summary>Splits <c>repo[:tag]</c> (a port in a registry host is not a tag); digests pull as given.</summary>
    internal static (string Repository, string Tag) SplitImage(string image)
    {
        if (image.Contains('@', StringComparison.Ordinal))
        {
            return (image, "");
        }

        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        return colon > slash ? (image[..colon], image[(colon + 1)..]) : (image, "latest");
    }

    private static string DaemonMessage(DockerApiException ex)
    {
        var body = ex.ResponseBody?.Trim() ?? "";
        var match = MessagePattern().Match(body);
        return match.Success ? Regex.Unescape(match.Groups[1].Value) : (body.Length > 0 ? body : ex.Message);
    }

    [GeneratedRegex("\"message\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex MessagePattern();

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Started replica {ReplicaId} as container {ContainerId} ({Image})")]
    private static partial void LogStarted(ILogger logger, string replicaId, string containerId, string image);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Replica {ReplicaId}: image {Image} is not on this node and could not be pulled: {Detail}")]
    private static partial void LogImageNotFound(ILogger logger, string replicaId, string image, string detail);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Docker event stream broke ({Error}); reconnecting")]
    private static partial void LogEventsBroken(ILogger logger, string error);

    /// <summary>An <see cref="IProgress{T}"/> that calls back in order on the reporting thread (unlike <see cref="Progress{T}"/>).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
