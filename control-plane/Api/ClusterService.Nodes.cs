using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Controllers;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary><c>Cluster.CordonNode</c>, <c>UncordonNode</c> and <c>DrainNode</c>, served by <see cref="NodeCommands"/>.</summary>
public sealed partial class ClusterService
{
    public override Task<NodeCordonResponse> CordonNode(NodeCordonRequest request, ServerCallContext context) =>
        ChangeNodeAsync(request, context, NodeSchedulingChange.Cordon);

    public override Task<NodeCordonResponse> UncordonNode(NodeCordonRequest request, ServerCallContext context) =>
        ChangeNodeAsync(request, context, NodeSchedulingChange.Uncordon);

    public override Task<NodeCordonResponse> DrainNode(NodeCordonRequest request, ServerCallContext context) =>
        ChangeNodeAsync(request, context, NodeSchedulingChange.Drain);

    private static async Task<NodeCordonResponse> ChangeNodeAsync(NodeCordonRequest request, ServerCallContext context, NodeSchedulingChange change)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var name = request.Node ?? "";
        if (name.Length == 0)
        {
            throw new InvalidObjectRequestException("the node name is missing; give the name of a node ('orc get nodes' lists them)");
        }

        var services = context.GetHttpContext().RequestServices;
        var outcome = await services.GetRequiredService<NodeCommands>().SetSchedulingAsync(name, change, context.CancellationToken);
        if (outcome.Changed)
        {
            var (reason, message) = change switch
            {
                NodeSchedulingChange.Cordon => ("Cordoned", $"node {name} cordoned: no new replicas are placed on it; the replicas it runs stay"),
                NodeSchedulingChange.Drain => ("Draining", $"node {name} draining: cordoned, and its replicas are replaced on other nodes, then stopped"),
                _ => ("Uncordoned", $"node {name} uncordoned: new replicas may be placed on it again"),
            };
            await services.GetRequiredService<EventRecorder>().RecordAsync("node", name, EventType.Normal, reason, message, "api", context.CancellationToken);
        }

        return new NodeCordonResponse { Node = outcome.Node, Changed = outcome.Changed, Revision = outcome.Revision };
    }
}
