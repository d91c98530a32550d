using System.Text.RegularExpressions;
using Orchestrator.TestSupport;

namespace Orchestrator.Cli.Tests;

public sealed partial class DevCommandTests
{
    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+) \(gRPC\)")]
    private static partial Regex ListeningOn();

    [Fact]
    public async Task Dev_serves_the_api_on_the_embedded_store_and_stops_cleanly_on_interrupt()
    {
        using var dir = new TempDirectory("orc-dev");
        var dataDir = Path.Combine(dir.Path, ".orc");
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var console = new TestConsole();

        var dev = Orc.RunAsync(["dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"], console, interrupt.Token);
        await Orc.EventuallyAsync(() => ListeningOn().IsMatch(console.Stdout) || dev.IsCompleted, "orc dev to listen");
        var server = ListeningOn().Match(console.Stdout).Groups[1].Value;
        var applied = await Orc.RunAsync(["apply", "-f", "-", "--server", server], stdin: "kind: Service\nname: web\nimage: nginx:1.27\n");
        var version = await Orc.RunAsync(["version", "--server", server]);
        await interrupt.CancelAsync();
        var exitCode = await dev.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Equal(0, exitCode);
        Assert.Equal(["service/web created"], applied.StdoutLines);
        Assert.Contains($"sqlite://{Path.Combine(dataDir, "state.db")}", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("No node agents run in orc dev yet", console.Stdout, StringComparison.Ordinal);
        Assert.Contains("Store: sqlite", version.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dataDir, "state.db")));
        Assert.EndsWith("Stopped.", console.Stdout.TrimEnd(), StringComparison.Ordinal);
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
