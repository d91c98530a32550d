using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Store;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

/// <summary>
/// <c>orc logs</c> against a control plane hosted in the test process, whose replicas run on a
/// <see cref="FakeAgent"/>: the request travels the real node stream and the answer the real PushLogs RPC.
/// </summary>
public sealed class LogsCommandTests : IAsyncLifetime
{
    private ControlPlaneFixture _cp = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Server => _cp.GrpcUrl.ToString().TrimEnd('/');

    public async ValueTask InitializeAsync() => _cp = await ControlPlaneFixture.StartAsync(
        // The fake agents do not heartbeat: a long grace keeps their nodes connected on a slow machine.
        configure: b => b.Services.AddSingleton(new NodeStreamOptions { NodeGrace = TimeSpan.FromMinutes(5) }),
        cancellationToken: Ct);

    public async ValueTask DisposeAsync() => await _cp.DisposeAsync();

    /// <summary>Writes a replica of <paramref name="owner"/> bound to <paramref name="node"/>, as the scheduler would.</summary>
    private async Task PutReplicaAsync(string id, string node, string owner = "service/web")
    {
        var kind = owner[..owner.IndexOf('/', StringComparison.Ordinal)];
        var replica = new Replica
        {
            Meta = new ObjectMeta { Name = id, Uid = Guid.NewGuid().ToString(), Generation = 1 },
            Spec = new ReplicaSpec
            {
                Owner = new OwnerRef { Kind = kind, Name = owner[(kind.Length + 1)..] },
                Revision = 1,
                Node = node,
                Desired = DesiredState.Run,
                Generation = 1,
                Template = new ReplicaTemplate { Driver = Driver.Process, Command = { "sleep", "1000" } },
            },
        };
        Assert.NotNull(await new MessageStore(_cp.Store).PutAsync(StoreKeys.Replica(id), replica, 0, cancellationToken: Ct));
    }

    private async Task<FakeAgent> ConnectAsync(string node)
    {
        var agent = await FakeAgent.ConnectAsync(_cp.Channel, node, cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);
        return agent;
    }

    /// <summary>The next log request the control plane sends the agent, past any assignment or endpoint messages.</summary>
    private static async Task<LogRequest> NextLogRequestAsync(FakeAgent agent)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var message = await agent.NextAsync(bound.Token);
            if (message.MessageCase == ControlMessage.MessageOneofCase.Logs)
            {
                return message.Logs;
            }
        }
    }

    /// <summary>Starts <c>orc ARGS --server ...</c>, to be finished with <c>await</c> after the agent answered.</summary>
    private Task<int> Start(TestConsole console, CancellationToken cancellationToken, params string[] args) =>
        Orc.RunAsync([.. args, "--server", Server], console, cancellationToken);

    private Task<Orc.Result> Run(params string[] args) => Orc.RunAsync([.. args, "--server", Server]);

    [Fact]
    public async Task Logs_of_a_replica_print_its_output_as_is_with_its_stderr_on_stderr()
    {
        await PutReplicaAsync("web-7f3k2", "node-1");
        await using var agent = await ConnectAsync("node-1");
        using var console = new TestConsole();

        var run = Start(console, Ct, "logs", "web-7f3k2");
        var request = await NextLogRequestAsync(agent);
        using var push = await agent.PushLogsAsync(request, [("listening on :20001\n", false), ("GET / 200\n", false), ("warning: slow disk\n", true)], cancellationToken: Ct);
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal("web-7f3k2", request.ReplicaId);
        Assert.False(request.Follow);
        Assert.Equal(0, request.TailLines);
        Assert.Equal(0, exitCode);
        Assert.Equal("listening on :20001\nGET / 200\n", console.Stdout);
        Assert.Equal("warning: slow disk\n", console.Stderr);
    }

    [Fact]
    public async Task Tail_asks_the_node_for_the_last_N_lines()
    {
        await PutReplicaAsync("web-7f3k2", "node-1");
        await using var agent = await ConnectAsync("node-1");
        using var console = new TestConsole();

        var run = Start(console, Ct, "logs", "replica/web-7f3k2", "--tail", "2");
        var request = await NextLogRequestAsync(agent);
        using var push = await agent.PushLogsAsync(request, [("two\n", false), ("three\n", false)], cancellationToken: Ct);
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(2, request.TailLines);
        Assert.Equal(0, exitCode);
        Assert.Equal(["two", "three"], Orc.Lines(console.Stdout));
    }

    [Theory]
    [InlineData("service/web")]
    [InlineData("svc/web")]
    [InlineData("services", "web")]
    public async Task Logs_of_a_service_prefix_every_line_with_its_replica(params string[] target)
    {
        await PutReplicaAsync("web-7f3k2", "node-1");
        await PutReplicaAsync("web-q8d1z", "node-2");
        await PutReplicaAsync("api-x1", "node-1", owner: "service/api");
        await using var node1 = await ConnectAsync("node-1");
        await using var node2 = await ConnectAsync("node-2");
        using var console = new TestConsole();

        var run = Start(console, Ct, ["logs", .. target, "--tail", "10"]);
        var first = await NextLogRequestAsync(node1);
        var second = await NextLogRequestAsync(node2);
        // One replica after the other, so the output's order is known; the second one's last
        // line comes in two chunks and without its newline.
        using (var push = await node1.PushLogsAsync(first, [("started\n", false), ("GET / 200\nGET /a 404\n", false), ("oops\n", true)], cancellationToken: Ct))
        {
            await push.ResponseAsync.WaitAsync(Ct);
        }

        using (var push = await node2.PushLogsAsync(second, [("started\n", false), ("shutting ", false), ("down", false)], cancellationToken: Ct))
        {
            await push.ResponseAsync.WaitAsync(Ct);
        }

        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(0, exitCode);
        Assert.Equal("web-7f3k2", first.ReplicaId);
        Assert.Equal("web-q8d1z", second.ReplicaId);
        Assert.Equal([10, 10], new[] { first.TailLines, second.TailLines });
        Golden.Assert("logs-service-web.txt", console.Stdout);
        Assert.Equal("[web-7f3k2] oops\n", console.Stderr);
    }

    [Fact]
    public async Task Logs_of_a_job_cover_its_replicas()
    {
        await PutReplicaAsync("report-0", "node-1", owner: "job/report");
        await using var agent = await ConnectAsync("node-1");
        using var console = new TestConsole();

        var run = Start(console, Ct, "logs", "job", "report");
        var request = await NextLogRequestAsync(agent);
        using var push = await agent.PushLogsAsync(request, [("part 1 done\n", false)], cancellationToken: Ct);
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(0, exitCode);
        Assert.Equal("[report-0] part 1 done\n", console.Stdout);
    }

    [Fact]
    public async Task Follow_prints_lines_as_they_come_and_Ctrl_C_ends_it_with_exit_code_0()
    {
        await PutReplicaAsync("web-7f3k2", "node-1");
        await using var agent = await ConnectAsync("node-1");
        using var console = new TestConsole();
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var run = Start(console, interrupt.Token, "logs", "web-7f3k2", "-f");
        var request = await NextLogRequestAsync(agent);
        using var push = await agent.PushLogsAsync(request, [("line 1\n", false)], end: false, cancellationToken: Ct);
        await Orc.EventuallyAsync(() => console.Stdout == "line 1\n", "the first line");
        await push.RequestStream.WriteAsync(new LogChunk { RequestId = request.RequestId, ReplicaId = request.ReplicaId, Data = Google.Protobuf.ByteString.CopyFromUtf8("line 2\n") }, Ct);
        await Orc.EventuallyAsync(() => console.Stdout == "line 1\nline 2\n", "the second line");
        await interrupt.CancelAsync();
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.True(request.Follow);
        Assert.Equal(0, exitCode);
        Assert.Equal("", console.Stderr);
        // The control plane completes the agent's PushLogs call: that is how the agent learns to stop following.
        await push.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task An_unknown_replica_is_one_error_line_that_names_it_and_says_how_to_list_replicas()
    {
        var result = await Run("logs", "web-nope");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(
            ["error: replica \"web-nope\" not found; list replicas with 'orc get replicas' (for all replicas of a service: 'orc logs service/web-nope')"],
            result.StderrLines);
    }

    [Fact]
    public async Task An_unknown_service_is_one_error_line_that_names_it()
    {
        var result = await Run("logs", "service", "nope");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(
            ["error: service/nope has no replicas; check the name with 'orc get services', or list replicas with 'orc get replicas'"],
            result.StderrLines);
    }

    [Fact]
    public async Task A_replica_on_a_node_that_is_not_connected_is_one_error_line_naming_the_node()
    {
        await PutReplicaAsync("web-7f3k2", "node-9");

        var result = await Run("logs", "web-7f3k2");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(["error: node \"node-9\" is not connected; logs are read from the node that ran the replica"], result.StderrLines);
    }

    [Fact]
    public async Task A_node_that_cannot_read_a_log_is_reported_after_the_other_replicas_output()
    {
        await PutReplicaAsync("web-7f3k2", "node-1");
        await PutReplicaAsync("web-q8d1z", "node-2");
        await using var node1 = await ConnectAsync("node-1");
        await using var node2 = await ConnectAsync("node-2");
        using var console = new TestConsole();

        var run = Start(console, Ct, "logs", "service/web");
        var first = await NextLogRequestAsync(node1);
        var second = await NextLogRequestAsync(node2);
        using var ok = await node1.PushLogsAsync(first, [("fine\n", false)], cancellationToken: Ct);
        using var failed = node2.Client.PushLogs(cancellationToken: Ct);
        await failed.RequestStream.WriteAsync(new LogChunk { RequestId = second.RequestId, ReplicaId = second.ReplicaId, End = true, Error = "replica web-q8d1z is not known on node node-2" }, Ct);
        await failed.RequestStream.CompleteAsync();
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(1, exitCode);
        Assert.Equal("[web-7f3k2] fine\n", console.Stdout);
        Assert.Equal(
            ["error: node \"node-2\" could not read the logs of web-q8d1z: replica web-q8d1z is not known on node node-2"],
            Orc.Lines(console.Stderr));
    }

    [Theory]
    [InlineData("-3", "error: --tail \"-3\" is not a whole number of lines (1 or more)")]
    [InlineData("ten", "error: --tail \"ten\" is not a whole number of lines (1 or more)")]
    [InlineData("99999999999", "error: --tail \"99999999999\" is not a whole number of lines (1 or more)")]
    [InlineData("0", "error: --tail 0 is not supported: the control plane cannot start at the end of a log yet; give 1 or more lines, or leave --tail out for all of them")]
    public async Task A_bad_tail_is_a_usage_error_and_nothing_is_sent(string tail, string error)
    {
        // No control plane listens here: a usage error must not even try to connect.
        var result = await Orc.RunAsync(["logs", "web-7f3k2", "--tail", tail, "--server", $"http://127.0.0.1:{FreePort.Next()}"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal([error, "Run 'orc logs --help' for usage."], result.StderrLines);
    }

    [Theory]
    [InlineData(new[] { "service" }, "error: logs needs a name after \"service\"")]
    [InlineData(new[] { "node/node-1" }, "error: nodes cannot be used here")]
    [InlineData(new[] { "svc/" }, "error: \"svc/\" has no name after the slash")]
    [InlineData(new[] { "servce", "web" }, "error: unknown kind \"servce\"; did you mean \"service\"?")]
    [InlineData(new[] { "web-7f3k2", "extra" }, "error: logs takes one replica id, or a kind and a name; \"extra\" after \"web-7f3k2\" is one word too many")]
    public async Task A_target_that_is_not_a_replica_service_or_job_is_a_usage_error(string[] target, string error)
    {
        var result = await Orc.RunAsync(["logs", .. target, "--server", $"http://127.0.0.1:{FreePort.Next()}"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(error, result.StderrLines[0]);
    }

    [Fact]
    public async Task A_control_plane_that_is_down_is_the_same_one_line_as_for_every_command()
    {
        var server = $"http://127.0.0.1:{FreePort.Next()}";

        var result = await Orc.RunAsync(["logs", "web-7f3k2", "-f", "--server", server]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(
            [$"error: cannot reach the control plane at {server} (connection refused). Start one with 'orc dev' or point --server/ORC_SERVER at a running one."],
            result.StderrLines);
    }

    [Fact]
    public void The_target_is_sent_as_the_api_names_it_whatever_the_spelling()
    {
        Assert.Equal("web-7f3k2", LogsCommandResolve("web-7f3k2"));
        Assert.Equal("web-7f3k2", LogsCommandResolve("rep/web-7f3k2"));
        Assert.Equal("web-7f3k2", LogsCommandResolve("replicas", "web-7f3k2"));
        Assert.Equal("service/web", LogsCommandResolve("svc", "web"));
        Assert.Equal("service/web", LogsCommandResolve("services/web"));
        Assert.Equal("job/report", LogsCommandResolve("jobs/report"));
        Assert.Equal("job/report", LogsCommandResolve("job", "report"));
    }

    private static string LogsCommandResolve(string first, string? name = null) =>
        Commands.LogsCommand.Resolve(first, name).Wire;
}
