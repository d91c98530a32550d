using System.Globalization;
using Orchestrator.NodeAgent.Health;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Health;

public sealed class ExecProbeCheckTests : IDisposable
{
    private static readonly ReplicaLaunch Replica = new()
    {
        ReplicaId = "web-abc12",
        OwnerKind = "service",
        OwnerName = "web",
        NodeName = "node-1",
        Environment = new Dictionary<string, string> { ["GREETING"] = "hello" },
        Ports = [new ReplicaPort("http", 8080, 20001), new ReplicaPort("admin", 9090, 20002)],
    };

    private readonly TempDirectory _dir = new("orc-probe");
    private readonly HostProcessProbeExec _exec = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Exit_code_zero_passes()
    {
        var result = await Check("sh", "-c", "exit 0").CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Passed, result);
    }

    [Fact]
    public async Task A_non_zero_exit_code_fails_and_says_which()
    {
        var result = await Check("sh", "-c", "exit 3").CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Failed("exit code 3"), result);
    }

    [Fact]
    public async Task A_missing_program_fails_and_names_it()
    {
        var result = await Check("/nonexistent/orc-probe-missing", "--check").CheckAsync(TestContext.Current.CancellationToken);

        Assert.False(result.Success);
        Assert.StartsWith("cannot run \"/nonexistent/orc-probe-missing\"", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_description_shows_the_command()
    {
        Assert.Equal("exec [sh -c exit 0]", Check("sh", "-c", "exit 0").Description);
    }

    [Fact]
    public async Task The_command_sees_the_replicas_environment()
    {
        var output = _dir.File("env.txt");
        var check = Check("sh", "-c", $"echo \"$PORT $PORT_ADMIN $ORC_REPLICA_ID $ORC_SERVICE $GREETING\" > '{output}'");

        Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));

        Assert.Equal("20001 20002 web-abc12 web hello", (await File.ReadAllTextAsync(output, TestContext.Current.CancellationToken)).Trim());
    }

    [Fact]
    public async Task Variables_in_the_arguments_are_expanded_as_in_the_replicas_command()
    {
        // $1 reaches sh as the agent expanded it; sh itself never sees the ${...}.
        var output = _dir.File("args.txt");
        var check = Check("sh", "-c", $"printf '%s' \"$1\" > '{output}'", "sh", "http://127.0.0.1:${PORT_ADMIN}/ready");

        Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));

        Assert.Equal("http://127.0.0.1:20002/ready", await File.ReadAllTextAsync(output, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_command_that_outlives_the_timeout_fails_and_is_killed()
    {
        var pidFile = _dir.File("pid");
        var check = Check("sh", "-c", $"echo $$ > '{pidFile}'; exec sleep 60");
        await using var runner = new ProbeRunner(ProbeKind.Liveness, check, new ProbeSettings { Timeout = TimeSpan.FromMilliseconds(500) }, TimeProvider.System, _ => { });

        var result = await Eventually.FinishesAsync(runner.ProbeOnceAsync(TestContext.Current.CancellationToken), "the probe");

        Assert.Equal(ProbeResult.Failed("timed out after 500ms"), result);
        var pid = await ReadPidAsync(pidFile);
        await Eventually.WaitUntilAsync(() => !IsRunning(pid), $"the probe's process {pid} was killed");
    }

    [Fact]
    public async Task A_timeout_kills_the_commands_children_too()
    {
        var pidFile = _dir.File("child-pid");
        var check = Check("sh", "-c", $"sleep 60 & echo $! > '{pidFile}'; wait");
        await using var runner = new ProbeRunner(ProbeKind.Liveness, check, new ProbeSettings { Timeout = TimeSpan.FromMilliseconds(500) }, TimeProvider.System, _ => { });
        var probing = runner.ProbeOnceAsync(TestContext.Current.CancellationToken);

        var result = await Eventually.FinishesAsync(probing, "the probe");

        Assert.Equal(ProbeResult.Failed("timed out after 500ms"), result);
        var pid = await ReadPidAsync(pidFile);
        await Eventually.WaitUntilAsync(() => !IsRunning(pid), $"the probe's child {pid} was killed");
    }

    [Fact]
    public async Task A_command_that_leaves_a_child_holding_its_output_ends_with_its_own_exit()
    {
        // The background sleep inherits stdout and stderr; the probe must not wait for it to close them.
        var pidFile = _dir.File("child-pid");
        var check = Check("sh", "-c", $"sleep 60 & echo $! > '{pidFile}'; exit 0");
        await using var runner = new ProbeRunner(ProbeKind.Liveness, check, new ProbeSettings { Timeout = TimeSpan.FromSeconds(20) }, TimeProvider.System, _ => { });

        try
        {
            var result = await Eventually.FinishesAsync(runner.ProbeOnceAsync(TestContext.Current.CancellationToken), "the probe");

            Assert.Equal(ProbeResult.Passed, result);
        }
        finally
        {
            if (File.Exists(pidFile))
            {
                KillQuietly(await ReadPidAsync(pidFile));
            }
        }
    }

    [Fact]
    public async Task An_empty_command_fails_through_the_runner()
    {
        await using var runner = new ProbeRunner(ProbeKind.Liveness, Check(), new ProbeSettings(), TimeProvider.System, _ => { });

        var result = await runner.ProbeOnceAsync(TestContext.Current.CancellationToken);

        Assert.False(result.Success);
        Assert.Contains("empty command", result.Detail, StringComparison.Ordinal);
    }

    private ExecProbeCheck Check(params string[] command) => new(_exec, Replica, command);

    private static async Task<int> ReadPidAsync(string path)
    {
        await Eventually.WaitUntilAsync(() => File.Exists(path) && new FileInfo(path).Length > 0, $"{path} was written");
        return int.Parse((await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken)).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Alive and not a zombie waiting to be reaped.</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void KillQuietly(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }
}
