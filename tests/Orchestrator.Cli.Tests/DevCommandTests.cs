using System.Text.RegularExpressions;
using Orchestrator.Cli.Commands;
using Orchestrator.TestSupport;

namespace Orchestrator.Cli.Tests;

public sealed partial class DevCommandTests
{
    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+) \(gRPC\)")]
    private static partial Regex ListeningOn();

    [Fact]
    public async Task Dev_without_nodes_serves_the_api_on_the_embedded_store_and_stops_cleanly_on_interrupt()
    {
        using var dir = new TempDirectory("orc-dev");
        var dataDir = Path.Combine(dir.Path, ".orc");
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var dev = Orc.RunAsync(["dev", "--nodes", "0", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"], console, interrupt.Token);
        await Orc.EventuallyAsync(() => ListeningOn().IsMatch(console.Stdout) || dev.IsCompleted, "orc dev to listen");
        var server = ListeningOn().Match(console.Stdout).Groups[1].Value;
        var applied = await Orc.RunAsync(["apply", "-f", "-", "--server", server], stdin: "kind: Service\nname: web\nimage: nginx:1.27\n");
        var version = await Orc.RunAsync(["version", "--server", server]);
        await interrupt.CancelAsync();
        var exitCode = await dev.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Equal(0, exitCode);
        Assert.Equal(["service/web created"], applied.StdoutLines);
        Assert.Contains($"sqlite://{Path.Combine(dataDir, "state.db")}", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("No nodes (--nodes 0)", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("Store: sqlite", version.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dataDir, "state.db")));
        Assert.EndsWith("Stopped.", console.Stdout.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_runs_node_agents_on_their_own_addresses_and_port_ranges_and_says_which_runtime()
    {
        using var dir = new TempDirectory("orc-dev");
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var dev = Orc.RunAsync(
            ["dev", "--nodes", "2", "--runtime", "process", "--data-dir", dir.Path, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--agent-http-port", "0"],
            console,
            interrupt.Token);
        await Orc.EventuallyAsync(() => console.Stdout.Contains("Press Ctrl-C", StringComparison.Ordinal) || dev.IsCompleted, "orc dev to start");
        var server = ListeningOn().Match(console.Stdout).Groups[1].Value;
        var deadline = TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(30);
        Orc.Result nodes;
        while ((nodes = await Orc.RunAsync(["get", "nodes", "--server", server])).StdoutLines.Count(l => l.Contains(" Ready ", StringComparison.Ordinal)) < 2)
        {
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"timed out waiting for both nodes to be Ready:\n{nodes}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System, TestContext.Current.CancellationToken);
        }

        await interrupt.CancelAsync();
        var exitCode = await dev.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(0, exitCode);
        Assert.Contains("Runtime: process (--runtime process)", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("Node node-1 at 127.0.0.2, ports 20000-20999", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("Node node-2 at 127.0.0.3, ports 21000-21999", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("Routing mesh: every node answers each service's published ports", console.Stdout, StringComparison.Ordinal);
        Assert.Contains(nodes.StdoutLines, l => l.StartsWith("node-1 ", StringComparison.Ordinal) && l.Contains("127.0.0.2", StringComparison.Ordinal));
        Assert.EndsWith("Stopped.", console.Stdout.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_with_simulated_nodes_says_what_they_are_and_when_all_are_Ready()
    {
        using var dir = new TempDirectory("orc-dev");
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var dev = Orc.RunAsync(
            ["dev", "--nodes", "0", "--simulated-nodes", "20", "--data-dir", dir.Path, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
            console,
            interrupt.Token);
        await Orc.EventuallyAsync(() => console.Stdout.Contains("Press Ctrl-C", StringComparison.Ordinal) || dev.IsCompleted, "orc dev to start");
        var server = ListeningOn().Match(console.Stdout).Groups[1].Value;
        var nodes = await Orc.RunAsync(["get", "nodes", "--server", server]);
        await interrupt.CancelAsync();
        var exitCode = await dev.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(0, exitCode);
        Assert.Contains(
            "Simulated nodes: 20 (sim-0001 at 127.1.0.1 to sim-0020 at 127.1.0.20; 4 cpu, 16Gi memory each; zones a/b/c; label orc.io/simulated=true). They run nothing: every replica placed on them is reported Ready at once.",
            console.Stdout,
            StringComparison.Ordinal);
        Assert.Matches(@"All 20 simulated nodes Ready after \d+\.\ds", console.Stdout);
        Assert.Equal(20, nodes.StdoutLines.Count(l => l.StartsWith("sim-", StringComparison.Ordinal) && l.Contains(" Ready ", StringComparison.Ordinal)));
        Assert.DoesNotContain("No nodes", console.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("Stopped.", console.Stdout.TrimEnd(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--runtime", "podman", "error: --runtime: \"podman\" is not a runtime; use auto, docker or process")]
    [InlineData("--nodes", "-1", "error: --nodes: -1 is out of range; give a number from 0 to 200")]
    [InlineData("--agent-http-port", "70000", "error: --agent-http-port: 70000 is not a port; give a number from 0 to 65535")]
    [InlineData("--simulated-nodes", "-1", "error: --simulated-nodes: -1 is out of range; give a number from 0 to 10000")]
    [InlineData("--simulated-nodes", "10001", "error: --simulated-nodes: 10001 is out of range; give a number from 0 to 10000")]
    [InlineData("--node-grace", "1s", "error: --node-grace 1s is too short: agents heartbeat every 1s, so a grace under 2s would judge healthy nodes lost; use 2s or more (default 3s)")]
    [InlineData("--event-ttl", "30s", "error: --event-ttl \"30s\" is shorter than a minute; give a duration of at least a minute, for example --event-ttl 24h")]
    [InlineData("--job-replica-retention", "soon", "error: --job-replica-retention: ")]
    [InlineData("--drain-timeout", "20m", "error: --drain-timeout 20m is out of range: give 100ms to 10m (default 5s)")]
    public async Task Dev_with_a_bad_flag_is_a_usage_error_that_says_what_to_give(string flag, string value, string error)
    {
        using var dir = new TempDirectory("orc-dev");
        var result = await Orc.RunAsync(["dev", "--data-dir", dir.Path, flag, value, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith(error, result.StderrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Dev_duration_flags_follow_the_control_plane_rules()
    {
        Assert.Null(DevCommand.Duration("--node-grace", null));
        Assert.Equal(TimeSpan.FromSeconds(5), DevCommand.Duration("--node-grace", "5s"));
        Assert.Equal(TimeSpan.FromHours(24), DevCommand.Duration("--event-ttl", "24h"));
        Assert.Equal(TimeSpan.FromMinutes(90), DevCommand.Duration("--job-replica-retention", "90m"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), DevCommand.Duration("--drain-timeout", "500ms"));
    }

    [Fact]
    public async Task Dev_with_a_malformed_listen_address_is_a_usage_error()
    {
        using var dir = new TempDirectory("orc-dev");
        var result = await Orc.RunAsync(["dev", "--data-dir", dir.Path, "--listen", "nonsense"]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: --listen \"nonsense\"", result.StderrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_on_a_port_in_use_says_so_in_one_line()
    {
        using var dir = new TempDirectory("orc-dev");
        await using var other = await FakeClusterServer.StartAsync();
        var taken = other.Address["http://".Length..];

        var result = await Orc.RunAsync(["dev", "--data-dir", dir.Path, "--listen", taken, "--http-listen", "127.0.0.1:0"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Single(result.StderrLines);
        Assert.StartsWith($"error: cannot listen on {taken}", result.StderrLines[0], StringComparison.Ordinal);
    }
}
