using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Orchestrator.Bench;

/// <summary>
/// A second Docker engine on this machine, the second Swarm node of <c>swarm-node-loss</c>: its own
/// data root, exec root, socket and pid file under the run's temp dir, on a bridge of its own
/// (<see cref="Bridge"/>, created here) with iptables off. Never <c>--bridge=none</c>: an engine
/// started that way deletes the host's <c>docker0</c>, which the first engine still uses (seen here).
/// It joins the swarm as a worker advertising 127.0.0.2. <see cref="Kill"/> is kill -9 of the
/// daemon; <see cref="DisposeAsync"/> starts it again if needed, leaves the swarm, removes its
/// containers, stops it, ends whatever it left running, unmounts what it mounted and removes the
/// bridge and its node entry on the manager.
/// </summary>
internal sealed class SecondDockerd : IAsyncDisposable
{
    public const string Address = "127.0.0.2";

    public const string Bridge = "orcswarm0";

    private const string BridgeCidr = "10.213.213.1/24";

    private readonly string _dir;
    private readonly SwarmCluster _swarm;
    private Process? _daemon;

    private SecondDockerd(string dir, SwarmCluster swarm)
    {
        _dir = dir;
        _swarm = swarm;
        Socket = $"unix://{Path.Combine(dir, "docker.sock")}";
        Client = SwarmCluster.ClientFor(new Uri(Socket));
    }

    public string Socket { get; }

    public DockerClient Client { get; }

    public string NodeId { get; private set; } = "";

    public bool Running => _daemon is { HasExited: false };

    public static async Task<SecondDockerd> StartAsync(string dir, SwarmCluster swarm)
    {
        var node = new SecondDockerd(dir, swarm);
        try
        {
            Directory.CreateDirectory(dir);
            await Command.CheckedAsync("ip", ["link", "add", Bridge, "type", "bridge"]);
            await Command.CheckedAsync("ip", ["addr", "add", BridgeCidr, "dev", Bridge]);
            await Command.CheckedAsync("ip", ["link", "set", Bridge, "up"]);
            await node.StartDaemonAsync();
            var token = (await swarm.Client.Swarm.InspectSwarmAsync()).JoinTokens.Worker;
            await node.Client.Swarm.JoinSwarmAsync(new SwarmJoinParameters
            {
                ListenAddr = $"{Address}:2377",
                AdvertiseAddr = Address,
                RemoteAddrs = [$"{SwarmCluster.ManagerAddress}:2377"],
                JoinToken = token,
            });
            node.NodeId = (await node.Client.System.GetSystemInfoAsync()).Swarm.NodeID;
            await node.WaitNodeStateAsync("ready", TimeSpan.FromMinutes(1));
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>kill -9 of the daemon; its containers' shims go on running until it is started again.</summary>
    public void Kill()
    {
        _daemon?.Kill();
        _daemon?.WaitForExit();
    }

    /// <summary>Starts the daemon again on the same directories (it rejoins as the same node) and waits until the manager sees it ready.</summary>
    public async Task RestartAsync()
    {
        await StartDaemonAsync();
        await WaitNodeStateAsync("ready", TimeSpan.FromMinutes(1));
    }

    public async Task<string> NodeStateAsync() => (await _swarm.Client.Swarm.InspectNodeAsync(NodeId)).Status?.State ?? "";

    private async Task WaitNodeStateAsync(string state, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (await NodeStateAsync() != state)
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                throw new TimeoutException($"swarm node {NodeId} ({Address}) is {await NodeStateAsync()}, not {state}, after {timeout.TotalSeconds:F0} s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        }
    }

    private async Task StartDaemonAsync()
    {
        var startInfo = new ProcessStartInfo("dockerd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--data-root", Path.Combine(_dir, "data"), "--exec-root", Path.Combine(_dir, "exec"), "-H", Socket,
            "--pidfile", Path.Combine(_dir, "docker.pid"), "--bridge", Bridge, "--iptables=false", "--ip-masq=false",
        })
        {
            startInfo.ArgumentList.Add(arg);
        }

        _daemon?.Dispose();
        _daemon = Process.Start(startInfo) ?? throw new InvalidOperationException("dockerd did not start");
        var log = File.AppendText(Path.Combine(_dir, "dockerd.log"));
        var daemon = _daemon;
        _ = Task.Run(async () =>
        {
            // Drain both streams into one log (a full pipe would block the daemon).
            var err = daemon.StandardError.ReadToEndAsync();
            var output = await daemon.StandardOutput.ReadToEndAsync();
            var errors = await err;
            lock (log)
            {
                log.Write(output);
                log.Write(errors);
                log.Dispose();
            }
        });
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                await Client.System.PingAsync();
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or DockerApiException or System.Net.Sockets.SocketException)
            {
                if (_daemon.HasExited || Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException($"the second dockerd ({Socket}) did not answer within 60 s (exited: {_daemon.HasExited}); see {Path.Combine(_dir, "dockerd.log")}", e);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_daemon is not null && !Running)
            {
                await Try(StartDaemonAsync);
            }

            if (Running)
            {
                await Try(() => Client.Swarm.LeaveSwarmAsync(new SwarmLeaveParameters { Force = true }));
                await Try(RemoveContainersAsync);
                await Command.RunAsync("kill", ["-TERM", _daemon!.Id.ToString(CultureInfo.InvariantCulture)]);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await _daemon.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    _daemon.Kill();
                }
            }

            // containerd and shims it may have left behind name the run's directory on their command lines.
            foreach (var pid in Proc.WithCommandLineContaining(_dir).Where(p => p != Environment.ProcessId))
            {
                Proc.Kill(pid);
            }

            // dockerd bind-mounts its data root and a network namespace file; they outlive it.
            var mounts = (await File.ReadAllLinesAsync("/proc/mounts"))
                .Select(line => line.Split(' ')[1])
                .Where(point => point.StartsWith(_dir, StringComparison.Ordinal))
                .Reverse()
                .ToList();
            foreach (var point in mounts)
            {
                await Command.RunAsync("umount", ["-l", point]);
            }

            await Command.RunAsync("ip", ["link", "del", Bridge]);
            if (NodeId.Length > 0)
            {
                await Try(() => _swarm.Client.Swarm.RemoveNodeAsync(NodeId, force: true));
            }
        }
        finally
        {
            Client.Dispose();
            _daemon?.Dispose();
        }
    }

    /// <summary>Removes every container of this engine; leaving the swarm already removes the task containers, so some are on their way out.</summary>
    private async Task RemoveContainersAsync()
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var left = await Client.Containers.ListContainersAsync(new ContainersListParameters { All = true });
            if (left.Count == 0)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"{left.Count} containers still on the second dockerd after 30 s");
            }

            foreach (var container in left)
            {
                try
                {
                    await Client.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
                }
                catch (DockerApiException e) when (e.StatusCode is System.Net.HttpStatusCode.Conflict or System.Net.HttpStatusCode.NotFound)
                {
                    // Already being removed, or gone.
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), TimeProvider.System);
        }
    }

    private static async Task Try(Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or InvalidOperationException or TimeoutException)
        {
            Console.WriteLine($"    swarm: clean-up of the second dockerd: {e.Message}");
        }
    }
}
