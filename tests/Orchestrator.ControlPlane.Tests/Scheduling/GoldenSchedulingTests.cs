using Orchestrator.ControlPlane.Tests.Specs;

namespace Orchestrator.ControlPlane.Tests.Scheduling;

/// <summary>
/// The golden scheduling cases: each <c>tests/testassets/scheduling/&lt;case&gt;/case.yaml</c> placed replica
/// by replica must write exactly <c>expected.txt</c> beside it (placements, host ports, messages and every
/// node's verdict). Set <c>ORC_UPDATE_GOLDEN=1</c> to write the actual output into the expected files in
/// the source tree, then review the diff: the expected files are the specification of the decisions.
/// </summary>
public sealed class GoldenSchedulingTests
{
    /// <summary>The cases as copied beside the test assembly (the project copies <c>tests/testassets/</c>).</summary>
    private static readonly string Cases = Path.Combine(AppContext.BaseDirectory, "testassets", "scheduling");

    public static TheoryData<string> CaseNames() =>
        new(Directory.GetDirectories(Cases).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Case_places_its_replicas_exactly_as_expected(string name)
    {
        var actual = SchedulingCase.Read(Path.Combine(Cases, name, "case.yaml")).Run();

        if (Environment.GetEnvironmentVariable("ORC_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(Path.Combine(RepoPaths.Root, "tests", "testassets", "scheduling", name, "expected.txt"), actual);
            return;
        }

        var expectedPath = Path.Combine(Cases, name, "expected.txt");
        Assert.True(File.Exists(expectedPath), $"{name}/expected.txt is missing; run the tests with ORC_UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(expectedPath).ReplaceLineEndings("\n"), actual);
    }

    [Fact]
    public void Every_case_has_a_description_an_input_and_an_expected_file()
    {
        var cases = Directory.GetDirectories(Cases);

        Assert.True(cases.Length >= 6, $"only {cases.Length} scheduling cases under {Cases}");
        Assert.All(cases, dir =>
        {
            Assert.Matches(@"^\d\d-[a-z0-9-]+$", Path.GetFileName(dir));
            Assert.Equal(["case.yaml", "expected.txt"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
            var input = SchedulingCase.Read(Path.Combine(dir, "case.yaml"));
            Assert.False(string.IsNullOrWhiteSpace(input.Description), $"{dir}/case.yaml has no description");
            Assert.NotEmpty(input.Replicas());
        });
    }

    [Fact]
    public void A_typo_in_a_case_is_an_error_not_a_default()
    {
        using var dir = new TestSupport.TempDirectory();
        var path = Path.Combine(dir.Path, "case.yaml");
        File.WriteAllText(path, "description: typo\nnodes:\n  - name: node-1\n    cpus: 4\n");

        Assert.ThrowsAny<YamlDotNet.Core.YamlException>(() => SchedulingCase.Read(path));
    }
}
