using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>One validated document of a spec file: exactly one of <see cref="Service"/> or <see cref="Job"/>, with defaults applied.</summary>
/// <param name="Line">1-based line where the document starts.</param>
public sealed record SpecDocument(int Line, ServiceSpec? Service, JobSpec? Job)
{
    public string Kind => Service is not null ? "service" : "job";

    public string Name => Service?.Name ?? Job!.Name;
}

/// <summary>
/// One problem found in a spec, printed as <c>file:line: field: what is wrong; how to fix</c>.
/// </summary>
/// <param name="Field">Dotted path of the field (<c>resources.memory</c>, <c>ports[1].published</c>); empty for a whole-document problem.</param>
public sealed record SpecError(string Source, int Line, int Column, string Field, string Message)
{
    public override string ToString() =>
        string.IsNullOrEmpty(Field) ? $"{Source}:{Line}: {Message}" : $"{Source}:{Line}: {Field}: {Message}";
}

/// <summary>The outcome of parsing a spec file: documents when valid, otherwise every error found.</summary>
public sealed record SpecParseResult(IReadOnlyList<SpecDocument> Documents, IReadOnlyList<SpecError> Errors)
{
    public bool IsValid => Errors.Count == 0;
}
