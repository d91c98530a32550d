using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Tests.Specs;

/// <summary>
/// The bad-spec corpus: each <c>tests/testassets/specs/bad/NN-name.yaml</c> must produce exactly the lines of
/// <c>NN-name.expected.txt</c>. Set <c>ORC_UPDATE_GOLDEN=1</c> to write the actual output into the expected
/// files, then review the diff: the expected files are the specification of the messages.
/// </summary>
public class GoldenSpecTests
{
    public static TheoryData<string> BadSpecs() =>
        new(Directory.GetFiles(RepoPaths.BadSpecs, "*.yaml").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));

    public static TheoryData<string> GoodSpecs() =>
        new(Directory.GetFiles(RepoPaths.GoodSpecs, "*.yaml")
            .Concat(Directory.GetFiles(RepoPaths.Examples, "*.yaml"))
            .Select(f => Path.GetRelativePath(RepoPaths.Root, f))
            .Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void Bad_spec_reports_exactly_the_expected_errors(string file)
    {
        var path = Path.Combine(RepoPaths.BadSpecs, file);
        var expectedPath = Path.ChangeExtension(path, ".expected.txt");
        var result = SpecParser.Parse(File.ReadAllText(path), file);
        var actual = string.Concat(result.Errors.Select(e => e + "\n"));

        if (Environment.GetEnvironmentVariable("ORC_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(expectedPath, actual);
        }

        Assert.False(result.IsValid, $"{file} should be rejected");
        Assert.Empty(result.Documents);
        Assert.True(File.Exists(expectedPath), $"{expectedPath} is missing; run with ORC_UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(expectedPath), actual);
    }

    [Theory]
    [MemberData(nameof(GoodSpecs))]
    public void Good_spec_parses_without_errors(string relativePath)
    {
        var result = SpecParser.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, relativePath)), Path.GetFileName(relativePath));

        Assert.Equal([], result.Errors.Select(e => e.ToString()));
        Assert.NotEmpty(result.Documents);
    }

    [Fact]
    public void Corpus_has_at_least_thirty_bad_specs_each_with_an_expected_file()
    {
        var specs = Directory.GetFiles(RepoPaths.BadSpecs, "*.yaml");
        var expected = Directory.GetFiles(RepoPaths.BadSpecs, "*.expected.txt");

        Assert.True(specs.Length >= 30, $"only {specs.Length} bad specs");
        Assert.Equal(
            specs.Select(f => Path.ChangeExtension(f, ".expected.txt")).Order(StringComparer.Ordinal),
            expected.Order(StringComparer.Ordinal));
        Assert.All(specs, f => Assert.Matches(@"^\d\d-[a-z0-9-]+\.yaml$", Path.GetFileName(f)));
    }
}
