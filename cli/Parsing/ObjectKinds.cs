using Orchestrator.V1;

namespace Orchestrator.Cli.Parsing;

/// <summary>One kind of object as the CLI names it.</summary>
/// <param name="Singular">Canonical name, used in output (<c>service/web</c>).</param>
/// <param name="Plural">Plural, used in messages (<c>No services found.</c>).</param>
/// <param name="Short">Short alias (<c>svc</c>), or null.</param>
/// <param name="Aliases">Other accepted spellings (<c>endpoint</c> for <c>endpoints</c>).</param>
public sealed record KindInfo(ObjectKind Kind, string Singular, string Plural, string? Short, params string[] Aliases)
{
    public IEnumerable<string> Names => new[] { Singular, Plural, Short }.OfType<string>().Concat(Aliases).Distinct();
}

/// <summary>
/// The kinds the CLI accepts, in singular, plural and short form (like kubectl: <c>service</c>,
/// <c>services</c>, <c>svc</c>), with a "did you mean" for typos.
/// </summary>
public static class ObjectKinds
{
    public static readonly KindInfo Service = new(ObjectKind.Service, "service", "services", "svc");
    public static readonly KindInfo Job = new(ObjectKind.Job, "job", "jobs", null);
    public static readonly KindInfo Node = new(ObjectKind.Node, "node", "nodes", "no");
    public static readonly KindInfo Replica = new(ObjectKind.Replica, "replica", "replicas", "rep");
    public static readonly KindInfo Event = new(ObjectKind.Event, "event", "events", "ev");
    public static readonly KindInfo Endpoints = new(ObjectKind.Endpoints, "endpoints", "endpoints", "ep", "endpoint");
    public static readonly KindInfo ControlPlane = new(ObjectKind.ControlPlane, "controlplane", "controlplanes", "cp", "control-plane", "control-planes");

    public static IReadOnlyList<KindInfo> All { get; } = [Service, Job, Node, Replica, Event, Endpoints, ControlPlane];

    /// <summary>One line listing every accepted kind, for hints.</summary>
    public static string Summary =>
        string.Join(", ", All.Select(k => k.Short is null ? k.Plural : $"{k.Plural} ({k.Short})"));

    public static KindInfo Of(ObjectKind kind) =>
        All.FirstOrDefault(k => k.Kind == kind) ?? throw new ArgumentOutOfRangeException(nameof(kind), kind, "no CLI name for this kind");

    /// <summary>Finds a kind by any of its names, case-insensitively.</summary>
    public static bool TryParse(string text, out KindInfo kind)
    {
        var match = All.FirstOrDefault(k => k.Names.Contains(text, StringComparer.OrdinalIgnoreCase));
        kind = match!;
        return match is not null;
    }

    /// <summary>Parses a kind or throws a usage error with the closest known name as a suggestion.</summary>
    public static KindInfo Parse(string text, IReadOnlyCollection<KindInfo>? allowed = null)
    {
        if (TryParse(text, out var kind) && (allowed is null || allowed.Contains(kind)))
        {
            return kind;
        }

        var candidates = (allowed ?? All).SelectMany(k => k.Names).Distinct().ToList();
        if (kind is not null)
        {
            throw new UsageException(
                $"{kind.Plural} cannot be used here",
                $"This command accepts: {string.Join(", ", (allowed ?? All).Select(k => k.Plural))}.");
        }

        var suggestion = Suggest.Closest(text, candidates);
        return suggestion is null
            ? throw new UsageException($"unknown kind \"{text}\"", $"Known kinds: {Summary}.")
            : throw new UsageException($"unknown kind \"{text}\"; did you mean \"{suggestion}\"?", $"Known kinds: {Summary}.");
    }
}
