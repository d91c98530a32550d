using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Tests.Specs;

/// <summary>Keeps docs/spec.md true to the parser.</summary>
public class SpecDocumentationTests
{
    private static readonly string Doc = File.ReadAllText(RepoPaths.SpecDoc);

    public static TheoryData<string> AcceptedWords() => new(SpecSchema.AllWords());

    [Theory]
    [MemberData(nameof(AcceptedWords))]
    public void Every_field_and_word_the_parser_accepts_is_documented(string word)
    {
        Assert.Contains($"`{word}`", Doc, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("`100m`")]
    [InlineData("`64Mi`")]
    [InlineData("`10s`")]
    [InlineData("readiness `2s`, liveness `5s`")]
    [InlineData("`2m`")]
    [InlineData("`6`")]
    public void The_documented_defaults_are_the_ones_the_parser_applies(string documented)
    {
        // The values below come from SpecDefaults; if one changes, the doc must say the new value.
        var defaults = new Dictionary<string, string>
        {
            ["`100m`"] = Quantity.FormatCpu(SpecDefaults.CpuMillis),
            ["`64Mi`"] = Quantity.FormatMemory(SpecDefaults.MemoryBytes),
            ["`10s`"] = DurationText.Format(SpecDefaults.StopGracePeriod),
            ["readiness `2s`, liveness `5s`"] = $"{DurationText.Format(SpecDefaults.ReadinessInterval)} {DurationText.Format(SpecDefaults.LivenessInterval)}",
            ["`2m`"] = DurationText.Format(SpecDefaults.ProgressDeadline),
            ["`6`"] = SpecDefaults.BackoffLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };

        var expected = defaults[documented];
        Assert.Equal(expected, string.Join(" ", System.Text.RegularExpressions.Regex.Matches(documented, "`([^`]*)`").Select(m => m.Groups[1].Value)));
        Assert.Contains(documented, Doc, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_example_the_doc_shows_in_a_yaml_block_parses()
    {
        var blocks = System.Text.RegularExpressions.Regex.Matches(Doc, "```yaml\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline);
        var full = blocks.Select(b => b.Groups[1].Value).Where(b => b.Contains("kind:", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(full);
        Assert.All(full, yaml => Assert.Equal([], SpecParser.Parse(yaml, "spec.md").Errors.Select(e => e.ToString())));
    }
}
