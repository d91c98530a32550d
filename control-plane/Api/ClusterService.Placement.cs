using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Scheduling;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary><c>Cluster.Explain</c> and <c>Cluster.Plan</c>, served by <see cref="PlacementExplainer"/> and <see cref="ApplyPlanner"/>.</summary>
public sealed partial class ClusterService
{
    public override async Task<ExplainResponse> Explain(ExplainRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var id = request.Replica ?? "";
        if (id.Length == 0)
        {
            throw new InvalidObjectRequestException("the replica id is missing; give the id of a replica, for example web-7f3k2 ('orc get replicas' lists them)");
        }

        Replica replica;
        try
        {
            replica = (await objects.GetAsync(ObjectKindInfo.Replica, id, context.CancellationToken)).Object.Replica;
        }
        catch (ObjectNotFoundException)
        {
            throw new RpcException(new Status(StatusCode.NotFound, await ReplicaNotFoundAsync(id, context.CancellationToken)));
        }

        var explainer = context.GetHttpContext().RequestServices.GetRequiredService<PlacementExplainer>();
        return await explainer.ExplainAsync(replica, context.CancellationToken);
    }

    public override async Task<PlanResponse> Plan(PlanRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Files.Count == 0)
        {
            throw new InvalidObjectRequestException("no spec files to plan; send at least one");
        }

        // Every file is parsed before anything is planned, and every problem of every file reported at once.
        var errors = new List<SpecError>();
        var documents = new List<SpecDocument>();
        var seen = new Dictionary<(string Kind, string Name), (string Source, int Line)>();
        foreach (var file in request.Files)
        {
            var source = string.IsNullOrWhiteSpace(file.SourceName) ? "<input>" : file.SourceName;
            var parsed = SpecParser.Parse(file.Content ?? "", source);
            if (!parsed.IsValid)
            {
                errors.AddRange(parsed.Errors);
                continue;
            }

            if (parsed.Documents.Count == 0)
            {
                errors.Add(new SpecError(source, 1, 1, "", "no documents found; a spec needs at least one document with a kind (Service or Job) and a name"));
                continue;
            }

            // One object twice in a file is what apply refuses, in its words; across files, name the other file.
            foreach (var twice in parsed.Documents.GroupBy(d => (d.Kind, d.Name)).Where(g => g.Count() > 1))
            {
                var lines = string.Join(" and ", twice.Select(d => d.Line.ToString(CultureInfo.InvariantCulture)));
                errors.Add(new SpecError(source, 1, 1, "", $"{twice.Key.Kind} \"{twice.Key.Name}\" appears more than once (documents at lines {lines}); keep one document per object"));
            }

            foreach (var document in parsed.Documents)
            {
                if (seen.TryGetValue((document.Kind, document.Name), out var first) && first.Source != source)
                {
                    errors.Add(new SpecError(source, document.Line, 1, "", $"{document.Kind} \"{document.Name}\" is also in {first.Source}:{first.Line}; keep one document per object"));
                }

                seen.TryAdd((document.Kind, document.Name), (source, document.Line));
            }

            documents.AddRange(parsed.Documents);
        }

        if (errors.Count > 0)
        {
            throw ApiErrors.Validation(errors);
        }

        var planner = context.GetHttpContext().RequestServices.GetRequiredService<ApplyPlanner>();
        try
        {
            return await planner.PlanAsync(documents, context.CancellationToken);
        }
        catch (InvalidObjectRequestException e) when (e.Document is { } document && seen.TryGetValue((document.Kind, document.Name), out var at))
        {
            // What apply would refuse (a job's template changed), pointed at the file and line as apply does.
            throw ApiErrors.Validation([new SpecError(at.Source, at.Line, 1, "", e.Message)]);
        }
    }

    /// <summary>
    /// "Not found", with the closest id among the replicas of the same owner when the id looks
    /// like a typo of one (only those are listed, so a big cluster is not read whole for a typo).
    /// </summary>
    private async Task<string> ReplicaNotFoundAsync(string id, CancellationToken cancellationToken)
    {
        const string List = "'orc get replicas' lists the replicas";
        // Ids are owner-suffix (web-7f3k2): a typo most often keeps what comes before the last '-'.
        var dash = id.LastIndexOf('-');
        if (dash > 0)
        {
            var siblings = await store.ListAsync(StoreKeys.ReplicasPrefix + id[..(dash + 1)], 0, 0, cancellationToken);
            var ids = siblings.Items.Select(kv => StoreKeys.NameOf(kv.Key, StoreKeys.ReplicasPrefix)).Where(n => !n.Contains('/', StringComparison.Ordinal));
            if (Suggest.Closest(id, ids) is { } closest)
            {
                return $"replica \"{id}\" not found; did you mean \"{closest}\"? {List}";
            }
        }

        return $"replica \"{id}\" not found; {List}";
    }
}
