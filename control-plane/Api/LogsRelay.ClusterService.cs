using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary><c>Cluster.Logs</c>, served by <see cref="LogsRelay"/>.</summary>
public sealed partial class ClusterService
{
    public override Task Logs(LogsRequest request, IServerStreamWriter<LogLine> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var relay = context.GetHttpContext().RequestServices.GetRequiredService<LogsRelay>();
        return relay.StreamAsync(request, responseStream, context.CancellationToken);
    }
}
