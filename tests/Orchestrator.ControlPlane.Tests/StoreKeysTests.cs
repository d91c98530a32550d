using Orchestrator.ControlPlane.Store;

namespace Orchestrator.ControlPlane.Tests;

public class StoreKeysTests
{
    [Fact]
    public void Every_prefix_ends_with_a_slash_so_web_never_matches_web2()
    {
        var prefixes = typeof(StoreKeys).GetFields()
            .Where(f => f.IsLiteral && f.Name.EndsWith("Prefix", StringComparison.Ordinal))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();

        Assert.NotEmpty(prefixes);
        Assert.All(prefixes, p => Assert.EndsWith("/", p));
        Assert.False(StoreKeys.Service("web2").StartsWith(StoreKeys.ServiceRevisions("web"), StringComparison.Ordinal));
    }

    [Fact]
    public void Revision_keys_sort_in_numeric_order()
    {
        var keys = new[] { 10L, 2L, 1L, 100L }.Select(r => StoreKeys.ServiceRevision("web", r)).Order(StringComparer.Ordinal).ToList();

        Assert.Equal([1L, 2L, 10L, 100L], keys.Select(k => long.Parse(k[StoreKeys.ServiceRevisions("web").Length..], System.Globalization.CultureInfo.InvariantCulture)));
    }
}
