using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Orchestrator.ControlPlane.Nodes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary>
/// The node API agents call. Thin: the stream is run by <see cref="NodeConnection"/>
/// (control-plane/Nodes), and log chunks are handed to <see cref="LogsRelay"/>.
/// </summary>
public sealed class NodeApiService(NodeConnection connection, LogsRelay logs, IHostApplicationLifetime lifetime) : NodeApi.NodeApiBase
{
    public override Task Connect(IAsyncStreamReader<AgentMessage> requestStream, IServerStreamWriter<ControlMessage> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return connection.RunAsync(requestStream, responseStream, context.CancellationToken, lifetime.ApplicationStopping);
    }

    public override Task<PushLogsResponse> PushLogs(IAsyncStreamReader<LogChunk> requestStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return logs.ReceiveAsync(requestStream, context.CancellationToken);
    }
}
