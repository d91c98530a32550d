using Orchestrator.Cli.Parsing;

namespace Orchestrator.Cli.Tests;

public sealed class ParsingTests
{
    [Theory]
    [InlineData("service", "service")]
    [InlineData("services", "service")]
    [InlineData("svc", "service")]
    [InlineData("SVC", "service")]
    [InlineData("job", "job")]
    [InlineData("jobs", "job")]
    [InlineData("no", "node")]
    [InlineData("nodes", "node")]
    [InlineData("rep", "replica")]
    [InlineData("replicas", "replica")]
    [InlineData("ev", "event")]
    [InlineData("events", "event")]
    [InlineData("ep", "endpoints")]
    [InlineData("endpoints", "endpoints")]
    [InlineData("endpoint", "endpoints")]
    public void Kinds_are_accepted_singular_plural_and_short(string text, string singular)
    {
        Assert.Equal(singular, ObjectKinds.Parse(text).Singular);
    }

    [Fact]
    public void Kind_and_name_as_two_words_or_with_a_slash_mean_the_same()
    {
        Assert.Equal(ObjectTarget.Parse("svc", "web"), ObjectTarget.Parse("service/web", null));
        Assert.Equal("service/web", ObjectTarget.Parse("services", "web").ToString());
    }

    [Fact]
    public void A_kind_alone_has_no_name()
    {
        var target = ObjectTarget.Parse("nodes", null);
        Assert.Null(target.Name);
        Assert.Equal("nodes", target.ToString());
    }

    [Fact]
    public void A_typo_in_a_kind_gets_the_closest_kind_as_a_suggestion()
    {
        var e = Assert.Throws<UsageException>(() => ObjectTarget.Parse("servce", null));
        Assert.Equal("unknown kind \"servce\"; did you mean \"service\"?", e.Message);
    }

    [Fact]
    public void A_kind_nothing_like_any_other_lists_the_known_kinds()
    {
        var e = Assert.Throws<UsageException>(() => ObjectTarget.Parse("deployment", null));
        Assert.Equal("unknown kind \"deployment\"", e.Message);
        Assert.Contains("services (svc)", e.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("controlplanes")]
    [InlineData("controlplane")]
    [InlineData("cp")]
    [InlineData("control-planes")]
    public void Control_planes_are_a_kind_get_can_list(string text)
    {
        Assert.Equal(ObjectKinds.ControlPlane, ObjectTarget.Parse(text, null).Kind);
    }

    [Fact]
    public void Giving_the_name_twice_is_a_usage_error()
    {
        var e = Assert.Throws<UsageException>(() => ObjectTarget.Parse("service/web", "api"));
        Assert.Contains("not both", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_slash_without_a_name_is_a_usage_error()
    {
        Assert.Throws<UsageException>(() => ObjectTarget.Parse("service/", null));
    }

    [Fact]
    public void A_command_that_needs_a_name_says_how_to_give_it()
    {
        var e = Assert.Throws<UsageException>(() => ObjectTarget.ParseNamed("svc", null, "describe"));
        Assert.Equal("describe needs a name", e.Message);
        Assert.Contains("orc describe service NAME", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kind_a_command_does_not_handle_is_refused_with_what_it_does_handle()
    {
        var e = Assert.Throws<UsageException>(() => ObjectTarget.ParseNamed("node/node-1", null, "delete", [ObjectKinds.Service, ObjectKinds.Job]));
        Assert.Equal("nodes cannot be used here", e.Message);
        Assert.Contains("services, jobs", e.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Suggestions_are_only_made_for_near_misses()
    {
        Assert.Equal("get", Suggest.Closest("gte", ["get", "apply", "delete"]));
        Assert.Null(Suggest.Closest("frobnicate", ["get", "apply", "delete"]));
    }
}
