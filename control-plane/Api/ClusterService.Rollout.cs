using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary><c>Cluster.RolloutUndo</c>, <c>RolloutPause</c> and <c>RolloutResume</c>, served by <see cref="RolloutCommands"/>.</summary>
public sealed partial class ClusterService
{
    public override async Task<RolloutUndoResponse> RolloutUndo(RolloutUndoRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var outcome = await Rollouts(context).UndoAsync(request.Service, request.ToRevision, context.CancellationToken);
        LogUndone(logger, request.Service, outcome.PreviousRevision, outcome.Revision);
        return new RolloutUndoResponse { PreviousRevision = outcome.PreviousRevision, Revision = outcome.Revision, Generation = outcome.Generation };
    }

    public override async Task<RolloutPauseResponse> RolloutPause(RolloutPauseRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var outcome = await Rollouts(context).PauseAsync(request.Service, context.CancellationToken);
        LogPaused(logger, request.Service, true, outcome.Changed);
        return new RolloutPauseResponse { Changed = outcome.Changed, Generation = outcome.Generation };
    }

    public override async Task<RolloutResumeResponse> RolloutResume(RolloutResumeRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var outcome = await Rollouts(context).ResumeAsync(request.Service, context.CancellationToken);
        LogPaused(logger, request.Service, false, outcome.Changed);
        return new RolloutResumeResponse { Changed = outcome.Changed, Generation = outcome.Generation };
    }

    private static RolloutCommands Rollouts(ServerCallContext context) =>
        context.GetHttpContext().RequestServices.GetRequiredService<RolloutCommands>();

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Rollout undo of service {Name}: revision {Previous} -> {Revision}")]
    private static partial void LogUndone(ILogger logger, string name, long previous, long revision);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Information, Message = "Rollout of service {Name}: paused {Paused} (changed {Changed})")]
    private static partial void LogPaused(ILogger logger, string name, bool paused, bool changed);
}
