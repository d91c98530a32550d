using FsCheck.Xunit;
using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Tests.Specs;

/// <summary>Whatever the text, the parser answers with documents or errors; it never throws.</summary>
public class SpecParserRobustnessTests
{
    private static readonly string[] Sources =
        [.. Directory.GetFiles(RepoPaths.GoodSpecs, "*.yaml").Concat(Directory.GetFiles(RepoPaths.BadSpecs, "*.yaml")).Order(StringComparer.Ordinal).Select(File.ReadAllText)];

    private static void AssertAnswers(string text)
    {
        var result = SpecParser.Parse(text, "fuzz.yaml");

        Assert.True(result.IsValid ? result.Documents.Count > 0 : result.Documents.Count == 0);
        Assert.All(result.Errors, e =>
        {
            Assert.Equal("fuzz.yaml", e.Source);
            Assert.True(e.Line >= 1, e.ToString());
            Assert.False(string.IsNullOrWhiteSpace(e.Message), e.ToString());
        });
    }

    [Theory]
    [InlineData(" : .\"\u00e9\u1c42")] // YamlDotNet's node loader threw ArgumentException on it
    public void Texts_that_once_made_the_parser_throw_give_errors(string text)
    {
        AssertAnswers(text);
        var result = SpecParser.Parse(text, "fuzz.yaml");
        Assert.False(result.IsValid);
        Assert.StartsWith("not valid YAML", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
    }

    [Property(MaxTest = 500)]
    public void Any_text_gives_documents_or_errors(string? text)
    {
        AssertAnswers(text ?? "");
    }

    [Property(MaxTest = 1000)]
    public void A_damaged_spec_gives_documents_or_errors(int seed)
    {
        var random = new Random(seed);
        var chars = Sources[random.Next(Sources.Length)].ToCharArray().ToList();
        const string noise = ":-[]{}#&*!|>'\"%@`, \n\t?0aZ";
        for (var edits = random.Next(1, 6); edits > 0 && chars.Count > 0; edits--)
        {
            var at = random.Next(chars.Count);
            switch (random.Next(3))
            {
                case 0:
                    chars.RemoveAt(at);
                    break;
                case 1:
                    chars.Insert(at, noise[random.Next(noise.Length)]);
                    break;
                default:
                    chars[at] = noise[random.Next(noise.Length)];
                    break;
            }
        }

        AssertAnswers(new string([.. chars]));
    }

    [Theory]
    [InlineData("kind: Service\nname: web\nimage: x\nreplicas: 99999999999999999999999\n")]
    [InlineData("kind: Service\nname: web\nimage: x\nresources: { cpu: 1e400, memory: 1e400 }\n")]
    [InlineData("kind: Service\nname: web\nimage: x\nstopGracePeriod: 99999999999999999999h\n")]
    [InlineData("kind: Service\nname: web\nimage: x\nupdate: { maxSurge: 99999999999999%, maxUnavailable: 1e3 }\n")]
    [InlineData("base: &b { image: x }\nkind: Service\nname: web\n<<: *b\n")]
    [InlineData("kind: Service\nname: web\nimage: x\nenv: { ? [a, b] : c }\n")]
    [InlineData("kind: Service\nname: web\nimage: x\nports: [[80]]\nhealth: [readiness]\nplacement: [spread]\nupdate: fast\n")]
    [InlineData("kind: Service\nname: web\nimage: x\nhealth: { readiness: { http: [/], tcp: { a: b }, exec: \"true\", port: [] } }\n")]
    [InlineData("%YAML 1.1\n---\nkind: Service\nname: web\nimage: x\n")]
    [InlineData("kind: !!str Service\nname: !custom web\nimage: x\n")]
    [InlineData("\"kind\": \"Service\"\n\"name\": \"web\"\n\"image\": \"x\"\n")]
    [InlineData("[")]
    [InlineData("{")]
    [InlineData("kind: Service\nname: web\nimage: *missing\n")]
    public void Odd_inputs_give_documents_or_errors(string text)
    {
        AssertAnswers(text);
    }
}
