using Grpc.Core;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Nodes;

/// <summary>Cluster.Logs relayed from a (fake) agent's PushLogs, over real gRPC.</summary>
public sealed class LogsRelayTests : IAsyncLifetime
{
    private NodeCluster? _cluster;

    private NodeCluster Cp => _cluster ?? throw new InvalidOperationException("not started");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _cluster = await NodeCluster.StartAsync(cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task Logs_of_a_replica_are_read_from_its_node_and_relayed_to_the_caller()
    {
        await Cp.PutReplicaAsync("web-r1", "node-1", cancellationToken: Ct);
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        using var logs = Cp.Client.Logs(new LogsRequest { Target = "web-r1", TailLines = 10 }, cancellationToken: Ct);
        var request = (await agent.NextAsync(ControlMessage.MessageOneofCase.Logs, Ct)).Logs;
        Assert.Equal("web-r1", request.ReplicaId);
        Assert.Equal(10, request.TailLines);
        using var push = await agent.PushLogsAsync(request, [("hello\n", false), ("oops\n", true)], cancellationToken: Ct);

        var lines = await logs.ResponseStream.ReadAllAsync(Ct).ToListAsync(Ct);
        Assert.Equal(["hello\n", "oops\n"], lines.Select(l => l.Data.ToStringUtf8()).ToArray());
        Assert.Equal([false, true], lines.Select(l => l.Stderr).ToArray());
        Assert.All(lines, l => Assert.Equal("web-r1", l.Replica));
        await push.ResponseAsync;
    }

    [Fact]
    public async Task Cancelling_a_follow_completes_the_agents_PushLogs_call()
    {
        await Cp.PutReplicaAsync("web-r1", "node-1", cancellationToken: Ct);
        await using var agent = await Cp.ConnectAsync("node-1", cancellationToken: Ct);
        await agent.HandshakeAsync(Ct);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var logs = Cp.Client.Logs(new LogsRequest { Target = "service/web", Follow = true }, cancellationToken: cancel.Token);
        var request = (await agent.NextAsync(ControlMessage.MessageOneofCase.Logs, Ct)).Logs;
        Assert.True(request.Follow);
        using var push = await agent.PushLogsAsync(request, [("line 1\n", false)], end: false, cancellationToken: Ct);
        Assert.True(await logs.ResponseStream.MoveNext(Ct));
        Assert.Equal("line 1\n", logs.ResponseStream.Current.Data.ToStringUtf8());

        await cancel.CancelAsync();

        // The server completes the agent's call: that is how the agent learns to stop following.
        await push.ResponseAsync.WaitAsync(Ct);
    }

    [Fact]
    public async Task Logs_of_an_unknown_replica_are_NotFound_and_of_a_disconnected_node_Unavailable()
    {
        var missing = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = Cp.Client.Logs(new LogsRequest { Target = "web-nope" }, cancellationToken: Ct);
            await call.ResponseStream.MoveNext(Ct);
        });
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        await Cp.PutReplicaAsync("web-r2", "node-2", cancellationToken: Ct);
        var offline = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = Cp.Client.Logs(new LogsRequest { Target = "web-r2" }, cancellationToken: Ct);
            await call.ResponseStream.MoveNext(Ct);
        });
        Assert.Equal(StatusCode.Unavailable, offline.StatusCode);
        Assert.Equal("node \"node-2\" is not connected; logs are read from the node that ran the replica", offline.Status.Detail);
    }
}
