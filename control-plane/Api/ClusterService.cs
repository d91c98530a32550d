using System.Diagnostics;
using System.Reflection;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.ControlPlane.Hosting;
using Orchestrator.ControlPlane.Leadership;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.ControlPlane.Telemetry;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary>
/// The cluster API. Thin by design: it validates the request's shape, calls the spec parser
/// and the object layer, and leaves error translation to <see cref="ErrorMappingInterceptor"/>.
/// </summary>
public sealed partial class ClusterService(
    IStateStore store,
    ClusterObjects objects,
    SpecApplier applier,
    ObjectCommands commands,
    ObjectWatcher watcher,
    ControlPlaneTelemetry telemetry,
    ControlPlaneOptions options,
    IHostApplicationLifetime lifetime,
    LeaderElector elector,
    ILogger<ClusterService> logger) : Cluster.ClusterBase
{
    private static readonly (string Version, string Commit) Build = ReadBuild();

    public override async Task<ApplyResponse> Apply(ApplyRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        using var activity = ControlPlaneTelemetry.ActivitySource.StartActivity("Apply");
        var start = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            var source = string.IsNullOrWhiteSpace(request.SourceName) ? "<input>" : request.SourceName;
            activity?.SetTag("orc.apply.source", source);
            activity?.SetTag("orc.apply.dry_run", request.DryRun);
            var parsed = SpecParser.Parse(request.Content ?? "", source);
            if (!parsed.IsValid)
            {
                outcome = "invalid";
                throw ApiErrors.Validation(parsed.Errors);
            }

            if (parsed.Documents.Count == 0)
            {
                outcome = "invalid";
                throw ApiErrors.Validation([new SpecError(source, 1, 1, "", "no documents found; a spec needs at least one document with a kind (Service or Job) and a name")]);
            }

            ApplyPlanResult result;
            try
            {
                result = await applier.ApplyAsync(parsed.Documents, request.DryRun, context.CancellationToken);
            }
            catch (InvalidObjectRequestException e)
            {
                outcome = "invalid";
                throw ApiErrors.Validation([new SpecError(source, e.Document?.Line ?? 1, 1, "", e.Message)]);
            }
            catch (ObjectConflictException)
            {
                outcome = "conflict";
                throw;
            }

            outcome = "ok";
            foreach (var r in result.Results)
            {
                telemetry.Applies.Add(1, new KeyValuePair<string, object?>("outcome", OutcomeName(r.Outcome)));
            }

            LogApplied(logger, source, result.Results.Count, request.DryRun, result.Revision);
            var response = new ApplyResponse { Revision = result.Revision };
            response.Results.AddRange(result.Results);
            return response;
        }
        finally
        {
            activity?.SetTag("orc.apply.outcome", outcome);
            if (outcome != "ok")
            {
                telemetry.Applies.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
            }

            telemetry.ApplyDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, new KeyValuePair<string, object?>("dry_run", request.DryRun));
        }
    }

    public override async Task<GetResponse> Get(GetRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var (obj, revision) = await objects.GetAsync(ObjectKindInfo.For(request.Kind), request.Name, context.CancellationToken);
        await MarkLeaderAsync([obj], revision, context.CancellationToken);
        return new GetResponse { Object = obj, Revision = revision };
    }

    public override async Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var list = await objects.ListAsync(ObjectKindInfo.For(request.Kind), request.Owner, request.NamePrefix, 0, context.CancellationToken);
        var response = new ListResponse { Revision = list.Revision };
        response.Items.AddRange(list.Items);
        await MarkLeaderAsync(response.Items, list.Revision, context.CancellationToken);
        return response;
    }

    public override async Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var kind = ObjectKindInfo.For(request.Kind);
        if (kind.Kind is not (ObjectKind.Service or ObjectKind.Job or ObjectKind.Node))
        {
            throw new InvalidObjectRequestException($"{kind.Singular} objects are managed by the control plane and cannot be deleted; delete or scale the service or job that owns them");
        }

        var revision = await commands.DeleteAsync(kind, request.Name, context.CancellationToken);
        LogDeleted(logger, kind.Singular, request.Name, revision);
        return new DeleteResponse { Deleted = true, Revision = revision };
    }

    public override async Task Watch(WatchRequest request, IServerStreamWriter<V1.WatchEvent> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        var kind = ObjectKindInfo.For(request.Kind);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        telemetry.WatchStreams.Add(1);
        try
        {
            await foreach (var change in watcher.WatchAsync(kind, request.Name, request.Owner, request.FromRevision, stopping.Token))
            {
                // Not the stopping token: a write cancelled midway aborts the HTTP/2 stream, and
                // the client would see Cancelled instead of the Unavailable status below.
                await responseStream.WriteAsync(change, context.CancellationToken);
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The client went away: nothing to send.
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the control plane is shutting down; watch again (from the last revision you saw) to continue"));
        }
        finally
        {
            telemetry.WatchStreams.Add(-1);
        }
    }

    public override async Task<ScaleResponse> Scale(ScaleRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var outcome = await commands.ScaleAsync(request.Service, request.Replicas, context.CancellationToken);
        LogScaled(logger, request.Service, outcome.Previous, outcome.Replicas);
        return new ScaleResponse { Previous = outcome.Previous, Replicas = outcome.Replicas, Generation = outcome.Generation };
    }

    public override async Task<HistoryResponse> History(HistoryRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var response = new HistoryResponse();
        response.Revisions.AddRange(await commands.HistoryAsync(request.Service, context.CancellationToken));
        return response;
    }

    public override async Task<VersionResponse> Version(VersionRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var leader = await store.GetAsync(LeaderElector.LeaderKey, 0, context.CancellationToken);
        var response = new VersionResponse
        {
            Version = Build.Version,
            Commit = Build.Commit,
            Store = store.Description,
            StoreRevision = leader.Revision,
            MemberId = options.MemberId,
            Leader = elector.IsLeader,
        };
        if (leader.Kv is { } kv)
        {
            var holder = ProtoJson.Decode<ControlPlaneMember>(kv.Value, kv.Key);
            response.LeaderId = holder.Id;
            response.LeaderAddress = holder.ApiAddress;
            response.LeaderSince = holder.Since;
            response.LeaderTermRevision = kv.CreateRevision;
        }

        return response;
    }

    /// <summary>
    /// A control plane's own record says what it last knew; the leader key says who leads now.
    /// Listing control planes marks the leader from the key, read at the list's revision.
    /// </summary>
    private async Task MarkLeaderAsync(IEnumerable<V1.Object> items, long revision, CancellationToken cancellationToken)
    {
        var members = items.Where(i => i.KindCase == V1.Object.KindOneofCase.ControlPlane).Select(i => i.ControlPlane).ToList();
        if (members.Count == 0)
        {
            return;
        }

        var leader = await store.GetAsync(LeaderElector.LeaderKey, revision, cancellationToken);
        var holder = leader.Kv is { } kv ? ProtoJson.Decode<ControlPlaneMember>(kv.Value, kv.Key).Id : null;
        foreach (var member in members)
        {
            member.Leader = member.Id == holder;
            member.TermRevision = member.Leader ? leader.Kv!.CreateRevision : 0;
        }
    }

    private static string OutcomeName(ApplyOutcome outcome) => outcome switch
    {
        ApplyOutcome.Created => "created",
        ApplyOutcome.Unchanged => "unchanged",
        ApplyOutcome.Configured => "configured",
        _ => "unknown",
    };

    /// <summary>The informational version is <c>0.1.0+&lt;git commit&gt;</c> when built from a git checkout.</summary>
    private static (string Version, string Commit) ReadBuild()
    {
        var informational = typeof(ClusterService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? (informational, "unknown") : (informational[..plus], informational[(plus + 1)..]);
    }

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Applied {Source}: {Count} object(s), dry run {DryRun}, store revision {Revision}")]
    private static partial void LogApplied(ILogger logger, string source, int count, bool dryRun, long revision);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "Deleted {Kind} {Name} at store revision {Revision}")]
    private static partial void LogDeleted(ILogger logger, string kind, string name, long revision);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Scaled service {Name} from {Previous} to {Replicas} replicas")]
    private static partial void LogScaled(ILogger logger, string name, int previous, int replicas);
}
