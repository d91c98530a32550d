using Grpc.Core;
using Orchestrator.ControlPlane.Tests.Specs;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Api;

/// <summary>
/// Every spec of the bad corpus, applied through the real API: rejected with exactly its
/// golden lines, and the store is left as it was, key for key.
/// </summary>
public sealed class BadSpecCorpusApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_bad_spec_in_the_corpus_gets_its_golden_message_and_changes_nothing()
    {
        await using var cp = await ControlPlaneFixture.StartAsync(cancellationToken: Ct);

        // Something stored already, so "changes nothing" is checked against a real cluster state.
        await cp.Client.ApplyAsync(
            new ApplyRequest { SourceName = "seed.yaml", Content = "kind: Service\nname: web\nreplicas: 2\nimage: nginx:1.27\n" },
            cancellationToken: Ct);
        var before = await SnapshotAsync(cp);

        var files = Directory.GetFiles(RepoPaths.BadSpecs, "*.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 30, $"only {files.Count} bad specs");
        var mismatches = new List<string>();
        foreach (var path in files)
        {
            var name = Path.GetFileName(path);
            var expected = File.ReadAllLines(Path.ChangeExtension(path, ".expected.txt"));
            var error = await Assert.ThrowsAsync<RpcException>(() =>
                cp.Client.ApplyAsync(new ApplyRequest { SourceName = name, Content = File.ReadAllText(path) }, cancellationToken: Ct).ResponseAsync);

            var trailer = error.Trailers.GetValueBytes("validation-errors-bin");
            var lines = trailer is null ? [] : ValidationErrors.Parser.ParseFrom(trailer).Errors.Select(e => e.Text).ToArray();
            if (error.StatusCode != StatusCode.InvalidArgument || !lines.SequenceEqual(expected))
            {
                mismatches.Add($"{name}: {error.StatusCode}, got [{string.Join(" | ", lines)}], expected [{string.Join(" | ", expected)}]");
            }

            Assert.Equal(before, await SnapshotAsync(cp));
        }

        Assert.Empty(mismatches);
    }

    /// <summary>The store revision and every key with its mod revision.</summary>
    private static async Task<string> SnapshotAsync(ControlPlaneFixture cp)
    {
        var all = await cp.Store.ListAsync("/orc/", 0, 0, Ct);
        return $"revision {all.Revision}: " + string.Join(", ", all.Items.Select(kv => $"{kv.Key}@{kv.ModRevision}"));
    }
}
