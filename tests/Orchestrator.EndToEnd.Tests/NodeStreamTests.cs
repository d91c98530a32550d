using Microsoft.Extensions.Logging;
using Orchestrator.V1;

namespace Orchestrator.EndToEnd.Tests;

/// <summary>The node stream between agents and the control plane, as agents come and go.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class NodeStreamTests
{
    [Fact]
    public async Task An_agent_that_stops_is_marked_NotReady_without_an_error_in_the_control_plane_log()
    {
        var logs = new CapturedLogs();
        await using var cluster = await TestCluster.StartAsync(nodes: 1, configureControlPlane: b => b.Logging.AddProvider(logs));
        var node = cluster.Cluster.Nodes[0];

        await cluster.Cluster.StopNodeAsync(node, keepReplicas: false, TestContext.Current.CancellationToken);

        await TestCluster.EventuallyAsync(
            async () => (await cluster.Api.GetAsync(new GetRequest { Kind = ObjectKind.Node, Name = node.Name }, cancellationToken: TestContext.Current.CancellationToken)).Object.Node,
            n => n.Status?.State == NodeState.NotReady,
            $"{node.Name} to be NotReady",
            n => $"{n.Status?.State}");
        // An agent going away is what agents do; the control plane's log keeps errors for its own faults.
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);
    }
}
