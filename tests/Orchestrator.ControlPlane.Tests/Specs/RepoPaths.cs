namespace Orchestrator.ControlPlane.Tests.Specs;

/// <summary>Paths in the source tree, so golden files are read from (and regenerated into) the repository itself.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string BadSpecs => Path.Combine(Root, "tests", "testassets", "specs", "bad");

    public static string GoodSpecs => Path.Combine(Root, "tests", "testassets", "specs", "good");

    public static string Examples => Path.Combine(Root, "examples");

    public static string SpecDoc => Path.Combine(Root, "docs", "spec.md");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orchestrator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Orchestrator.sln above {AppContext.BaseDirectory}; run the tests from a checkout of the repository.");
    }
}
