using Orchestrator.NodeAgent.Hosting;
using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Tests.Agent;

public sealed class NodeAgentTests
{
    [Fact(Timeout = 30_000)]
    public async Task First_message_registers_the_node_with_its_info_and_everything_it_runs()
    {
        var info = new NodeInfo { Address = "127.0.0.9", MemoryEnforcement = "cgroup-v1" };
        info.Drivers.Add(Driver.Process);
        await using var harness = new AgentHarness(
            new NodeAgentOptions { NodeName = "node-7", Address = "127.0.0.9", Token = "secret", Servers = [new Uri("http://cp-a:7070")] },
            info: info);
        harness.Supervisor.Running.Add(new ReplicaReport { ReplicaId = "web-1", Generation = 3, Status = new ReplicaStatus { Phase = Phase.Ready } });
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);

        var stream = await harness.Plane.Streams.Reader.ReadAsync(TestContext.Current.CancellationToken);
        var first = await stream.Received.Reader.ReadAsync(TestContext.Current.CancellationToken);

        Assert.Equal(AgentMessage.MessageOneofCase.Register, first.MessageCase);
        var register = first.Register;
        Assert.Equal(NodeProtocolVersion._1, register.ProtocolVersion);
        Assert.Equal("node-7", register.NodeName);
        Assert.Equal("secret", register.Token);
        Assert.Equal(info, register.Info);
        var running = Assert.Single(register.Running);
        Assert.Equal("web-1", running.ReplicaId);
        Assert.Equal(3, running.Generation);
        Assert.Equal(Phase.Ready, running.Status.Phase);
    }

    [Fact(Timeout = 30_000)]
    public async Task Assignment_set_replaces_and_deltas_upsert_and_remove_before_the_supervisor_gets_the_full_set()
    {
        await using var harness = new AgentHarness();
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (stream, _) = await harness.AcceptAsync();

        var set = new AssignmentSet { Revision = 10 };
        set.Assignments.Add(new Assignment { Replica = AgentHarness.Replica("a") });
        set.Assignments.Add(new Assignment { Replica = AgentHarness.Replica("b") });
        stream.Send(new ControlMessage { Assignments = set });
        Assert.Equal(["a", "b"], await harness.Supervisor.Sets.Reader.ReadAsync(TestContext.Current.CancellationToken));

        var delta = new AssignmentDelta { Revision = 11 };
        delta.Upserted.Add(new Assignment { Replica = AgentHarness.Replica("c") });
        delta.Upserted.Add(new Assignment { Replica = AgentHarness.Replica("b", generation: 2) });
        delta.Removed.Add("a");
        stream.Send(new ControlMessage { Delta = delta });
        Assert.Equal(["b", "c"], await harness.Supervisor.Sets.Reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2, harness.Supervisor.Received[^1].Single(r => r.Meta.Name == "b").Spec.Generation);

        var replace = new AssignmentSet { Revision = 12 };
        replace.Assignments.Add(new Assignment { Replica = AgentHarness.Replica("d") });
        stream.Send(new ControlMessage { Assignments = replace });
        Assert.Equal(["d"], await harness.Supervisor.Sets.Reader.ReadAsync(TestContext.Current.CancellationToken));

        var removeUnknown = new AssignmentDelta { Revision = 13 };
        removeUnknown.Removed.Add("never-assigned");
        stream.Send(new ControlMessage { Delta = removeUnknown });
        Assert.Equal(["d"], await harness.Supervisor.Sets.Reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.Equal(["d"], harness.Agent.Assignments().Select(r => r.Meta.Name));
    }

    [Fact(Timeout = 30_000)]
    public async Task Heartbeats_follow_the_interval_the_control_plane_asked_for_on_the_clock()
    {
        await using var harness = new AgentHarness();
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (stream, _) = await harness.AcceptAsync(heartbeatMs: 500);
        await harness.Agent.FirstRegistration;

        var first = await harness.PumpUntilAsync(stream.NextAsync(AgentMessage.MessageOneofCase.Heartbeat, TestContext.Current.CancellationToken));
        var second = await harness.PumpUntilAsync(stream.NextAsync(AgentMessage.MessageOneofCase.Heartbeat, TestContext.Current.CancellationToken));

        Assert.Equal(1UL, first.Heartbeat.Sequence);
        Assert.Equal(2UL, second.Heartbeat.Sequence);
        var apart = second.Heartbeat.SentAt.ToDateTimeOffset() - first.Heartbeat.SentAt.ToDateTimeOffset();
        Assert.Equal(TimeSpan.FromMilliseconds(500), apart);
    }

    [Fact(Timeout = 30_000)]
    public async Task Supervisor_reports_are_forwarded_on_the_stream()
    {
        await using var harness = new AgentHarness();
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (stream, _) = await harness.AcceptAsync();
        await harness.Agent.FirstRegistration;

        harness.Supervisor.Report(new ReplicaReport { ReplicaId = "web-1", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Running } });
        harness.Supervisor.Report(new ReplicaReport { ReplicaId = "web-1", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Ready } });

        var running = await stream.NextAsync(AgentMessage.MessageOneofCase.Status, TestContext.Current.CancellationToken);
        var ready = await stream.NextAsync(AgentMessage.MessageOneofCase.Status, TestContext.Current.CancellationToken);
        Assert.Equal(Phase.Running, running.Status.Status.Phase);
        Assert.Equal(Phase.Ready, ready.Status.Status.Phase);
    }

    [Fact(Timeout = 30_000)]
    public async Task Reconnect_moves_to_the_next_server_after_each_failure_and_registers_again_with_a_full_report()
    {
        Uri a = new("http://cp-a:7070"), b = new("http://cp-b:7070"), c = new("http://cp-c:7070");
        await using var harness = new AgentHarness(new NodeAgentOptions { NodeName = "node-1", Servers = [a, b, c] });
        harness.Plane.SetDown(a, true);
        harness.Plane.SetDown(b, true);
        harness.Supervisor.Running.Add(new ReplicaReport { ReplicaId = "web-1", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Ready } });
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);

        var (onC, _) = await harness.AcceptAsync();
        Assert.Equal(c, onC.Server);

        // The plane has the registration before the agent has handled the answer; wait for that (bounded).
        for (var i = 0; i < 500 && harness.Agent.ConnectedTo != c; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, TestContext.Current.CancellationToken);
        }

        Assert.Equal(c, harness.Agent.ConnectedTo);

        // A clean end of a registered session: the agent comes back to the same server first.
        harness.Supervisor.Running.Add(new ReplicaReport { ReplicaId = "web-2", Generation = 1, Status = new ReplicaStatus { Phase = Phase.Running } });
        onC.End();
        var (again, register) = await harness.AcceptAsync();
        Assert.Equal(c, again.Server);
        Assert.Equal(["web-1", "web-2"], register.Running.Select(r => r.ReplicaId));

        // c goes away: c fails, then a (the next) answers.
        harness.Plane.SetDown(c, true);
        harness.Plane.SetDown(a, false);
        again.End();
        var (onA, _) = await harness.AcceptAsync();
        Assert.Equal(a, onA.Server);

        var attempts = new List<Uri>();
        while (harness.Plane.Attempts.Reader.TryRead(out var attempt))
        {
            attempts.Add(attempt);
        }

        Assert.Equal([a, b, c, c, c, a], attempts);
    }

    [Fact(Timeout = 30_000)]
    public async Task Control_plane_asking_to_reconnect_sends_the_agent_to_the_next_server()
    {
        Uri a = new("http://cp-a:7070"), b = new("http://cp-b:7070");
        await using var harness = new AgentHarness(new NodeAgentOptions { NodeName = "node-1", Servers = [a, b] });
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (onA, _) = await harness.AcceptAsync();

        onA.Send(new ControlMessage { Reconnect = new Reconnect { Reason = "lost leadership" } });

        var (onB, _) = await harness.AcceptAsync();
        Assert.Equal(b, onB.Server);
    }

    [Fact(Timeout = 30_000)]
    public async Task Assignments_survive_a_disconnect_until_the_next_set_arrives()
    {
        await using var harness = new AgentHarness();
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (stream, _) = await harness.AcceptAsync();
        var set = new AssignmentSet();
        set.Assignments.Add(new Assignment { Replica = AgentHarness.Replica("a") });
        stream.Send(new ControlMessage { Assignments = set });
        Assert.Equal(["a"], await harness.Supervisor.Sets.Reader.ReadAsync(TestContext.Current.CancellationToken));

        stream.End();
        var (again, _) = await harness.AcceptAsync();

        Assert.False(harness.Supervisor.Sets.Reader.TryRead(out _));
        Assert.Equal(["a"], harness.Agent.Assignments().Select(r => r.Meta.Name));
        again.Send(new ControlMessage { Assignments = new AssignmentSet() });
        Assert.Empty(await harness.Supervisor.Sets.Reader.ReadAsync(TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = 30_000)]
    public async Task Log_request_is_answered_on_push_logs_with_the_same_request_id_from_the_replicas_runtime()
    {
        var docker = new FakeLogRuntime("docker");
        var process = new FakeLogRuntime("process");
        process.Logs["web-1"] = [new global::Orchestrator.NodeAgent.Runtime.LogLine(LogStream.Stdout, "one"), new global::Orchestrator.NodeAgent.Runtime.LogLine(LogStream.Stderr, "two"), new global::Orchestrator.NodeAgent.Runtime.LogLine(LogStream.Stdout, "three")];
        await using var harness = new AgentHarness(runtimes: [docker, process]);
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (stream, _) = await harness.AcceptAsync();

        stream.Send(new ControlMessage { Logs = new LogRequest { RequestId = "r-1", ReplicaId = "web-1", TailLines = 2 } });
        var push = await harness.Plane.LogPushes.Reader.ReadAsync(TestContext.Current.CancellationToken);
        var chunks = await push.ReadAllAsync(TestContext.Current.CancellationToken);

        Assert.All(chunks, c => Assert.Equal("r-1", c.RequestId));
        Assert.Equal(["two\n", "three\n", ""], chunks.Select(c => c.Data.ToStringUtf8()));
        Assert.Equal([true, false, false], chunks.Select(c => c.Stderr));
        Assert.True(chunks[^1].End);
        Assert.Equal("", chunks[^1].Error);
    }

    [Fact(Timeout = 30_000)]
    public async Task Log_request_for_an_unknown_replica_ends_with_an_error_naming_it_and_the_node()
    {
        await using var harness = new AgentHarness(runtimes: [new FakeLogRuntime("process")]);
        await harness.Agent.StartAsync(TestContext.Current.CancellationToken);
        var (stream, _) = await harness.AcceptAsync();

        stream.Send(new ControlMessage { Logs = new LogRequest { RequestId = "r-2", ReplicaId = "ghost-1" } });
        var push = await harness.Plane.LogPushes.Reader.ReadAsync(TestContext.Current.CancellationToken);
        var chunk = Assert.Single(await push.ReadAllAsync(TestContext.Current.CancellationToken));

        Assert.True(chunk.End);
        Assert.Equal("r-2", chunk.RequestId);
        Assert.Equal("replica ghost-1 is not known on node node-1", chunk.Error);
    }
}
