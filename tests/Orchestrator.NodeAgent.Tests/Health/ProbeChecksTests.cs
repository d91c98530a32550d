using System.Net;
using System.Net.Sockets;
using Orchestrator.NodeAgent.Health;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Health;

public sealed class ProbeChecksTests : IDisposable
{
    private readonly HttpClient _client = HttpProbeCheck.CreateSharedClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task An_http_probe_without_a_port_calls_the_first_port()
    {
        await using var web = TinyHttpServer.Answering(200);
        var replica = Replica(("web", web.Port), ("admin", FreePort.Next()));

        var check = ProbeChecks.Create(new Probe { Http = "/healthz" }, replica, "127.0.0.1", _client, exec: null);

        Assert.IsType<HttpProbeCheck>(check);
        Assert.Equal("http GET /healthz on port web", check.Description);
        Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));
        Assert.StartsWith("GET /healthz ", Assert.Single(web.Requests), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_http_probe_calls_the_host_port_of_the_port_it_names()
    {
        await using var admin = TinyHttpServer.Answering(204);
        var replica = Replica(("web", FreePort.Next()), ("admin", admin.Port));

        var check = ProbeChecks.Create(new Probe { Http = "/ready", Port = "admin" }, replica, "127.0.0.1", _client, exec: null);

        Assert.Equal("http GET /ready on port admin", check.Description);
        Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Single(admin.Requests);
    }

    [Fact]
    public async Task An_http_probe_naming_an_unknown_port_always_fails_and_names_the_port()
    {
        var check = ProbeChecks.Create(new Probe { Http = "/healthz", Port = "metrics" }, Replica(("web", 20001)), "127.0.0.1", _client, exec: null);

        Assert.IsType<FailingProbeCheck>(check);
        Assert.Equal("http GET /healthz on port metrics", check.Description);
        Assert.Equal(ProbeResult.Failed("the replica declares no port named \"metrics\""), await check.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task An_http_probe_of_a_replica_without_ports_fails_and_says_so()
    {
        var check = ProbeChecks.Create(new Probe { Http = "/healthz" }, Replica(), "127.0.0.1", _client, exec: null);

        Assert.IsType<FailingProbeCheck>(check);
        Assert.Equal(ProbeResult.Failed("the replica declares no port to probe"), await check.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_tcp_probe_connects_to_the_host_port_of_the_port_it_names()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var replica = Replica(("web", FreePort.Next()), ("db", ((IPEndPoint)listener.LocalEndpoint).Port));

        var check = ProbeChecks.Create(new Probe { Tcp = "db" }, replica, "127.0.0.1", _client, exec: null);

        Assert.IsType<TcpProbeCheck>(check);
        Assert.Equal("tcp connect on port db", check.Description);
        Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_tcp_probe_naming_an_unknown_port_always_fails_and_names_the_port()
    {
        var check = ProbeChecks.Create(new Probe { Tcp = "redis" }, Replica(("web", 20001)), "127.0.0.1", _client, exec: null);

        Assert.IsType<FailingProbeCheck>(check);
        Assert.Equal("tcp connect on port redis", check.Description);
        Assert.Equal(ProbeResult.Failed("the replica declares no port named \"redis\""), await check.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task An_exec_probe_runs_through_the_exec_with_the_replica_and_command()
    {
        var exec = new RecordingProbeExec(exitCode: 0);
        var replica = Replica(("web", 20001));

        var check = ProbeChecks.Create(ExecProbe("cat", "/tmp/healthy"), replica, "127.0.0.1", _client, exec);

        Assert.IsType<ExecProbeCheck>(check);
        Assert.Equal("exec [cat /tmp/healthy]", check.Description);
        Assert.Equal(ProbeResult.Passed, await check.CheckAsync(TestContext.Current.CancellationToken));
        var (seenReplica, seenCommand) = Assert.Single(exec.Calls);
        Assert.Same(replica, seenReplica);
        Assert.Equal(["cat", "/tmp/healthy"], seenCommand);
    }

    [Fact]
    public async Task An_exec_probe_fails_with_the_execs_exit_code_or_its_reason()
    {
        var failing = ProbeChecks.Create(ExecProbe("false"), Replica(), "127.0.0.1", _client, new RecordingProbeExec(exitCode: 1));
        var unrunnable = ProbeChecks.Create(ExecProbe("false"), Replica(), "127.0.0.1", _client, new RecordingProbeExec(failure: "no such container"));

        Assert.Equal(ProbeResult.Failed("exit code 1"), await failing.CheckAsync(TestContext.Current.CancellationToken));
        Assert.Equal(ProbeResult.Failed("no such container"), await unrunnable.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task An_exec_probe_without_an_exec_for_the_driver_always_fails_and_says_why()
    {
        var check = ProbeChecks.Create(ExecProbe("cat", "/tmp/healthy"), Replica(("web", 20001)), "127.0.0.1", _client, exec: null);

        Assert.IsType<FailingProbeCheck>(check);
        Assert.Equal("exec [cat /tmp/healthy]", check.Description);
        Assert.Equal(ProbeResult.Failed("exec probes are not supported for this driver yet"), await check.CheckAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_probe_without_a_check_always_fails_and_says_why()
    {
        var check = ProbeChecks.Create(new Probe(), Replica(("web", 20001)), "127.0.0.1", _client, exec: null);

        var result = await check.CheckAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ProbeResult.Failed("the probe sets none of http, tcp or exec"), result);
    }

    private static Probe ExecProbe(params string[] command)
    {
        var probe = new Probe { Exec = new ExecAction() };
        probe.Exec.Command.Add(command);
        return probe;
    }

    private static ReplicaLaunch Replica(params (string Name, int HostPort)[] ports) => new()
    {
        ReplicaId = "web-abc12",
        OwnerKind = "service",
        OwnerName = "web",
        NodeName = "node-1",
        Ports = [.. ports.Select((p, i) => new ReplicaPort(p.Name, 8080 + i, p.HostPort))],
    };

    private sealed class RecordingProbeExec(int exitCode = 0, string? failure = null) : IProbeExec
    {
        public List<(ReplicaLaunch Replica, IReadOnlyList<string> Command)> Calls { get; } = [];

        public Task<int> ExecAsync(ReplicaLaunch replica, IReadOnlyList<string> command, CancellationToken cancellationToken)
        {
            Calls.Add((replica, command));
            return failure is null ? Task.FromResult(exitCode) : Task.FromException<int>(new ProbeExecException(failure));
        }
    }
}
