using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Specs;

public class NamesAndConstraintsTests
{
    [Theory]
    [InlineData("web", true)]
    [InlineData("a", true)]
    [InlineData("web-2", true)]
    [InlineData("0day", true)]
    [InlineData("", false)]
    [InlineData("Web", false)]
    [InlineData("-web", false)]
    [InlineData("web-", false)]
    [InlineData("web_app", false)]
    [InlineData("web.app", false)]
    [InlineData(null, false)]
    public void Dns_labels_are_lowercase_letters_digits_and_inner_dashes(string? name, bool valid)
    {
        Assert.Equal(valid, Names.IsValidDnsLabel(name));
    }

    [Fact]
    public void A_dns_label_is_at_most_63_characters()
    {
        Assert.True(Names.IsValidDnsLabel(new string('a', 63)));
        Assert.False(Names.IsValidDnsLabel(new string('a', 64)));
    }

    [Theory]
    [InlineData("Web_App", "web-app")]
    [InlineData("My Service", "my-service")]
    [InlineData("--api--", "api")]
    [InlineData("api..v2", "api-v2")]
    [InlineData("__", null)]
    public void An_invalid_name_gets_the_closest_valid_one_as_a_suggestion(string name, string? suggestion)
    {
        Assert.Equal(suggestion, Names.SuggestDnsLabel(name));
    }

    [Theory]
    [InlineData("http", "PORT_HTTP")]
    [InlineData("admin-api", "PORT_ADMIN_API")]
    public void A_port_name_becomes_an_upper_case_variable(string name, string variable)
    {
        Assert.Equal(variable, Names.PortVariable(name));
    }

    [Theory]
    [InlineData("imagee", "image")]
    [InlineData("Image", "image")]
    [InlineData("stop_grace_period", "stopGracePeriod")]
    [InlineData("replica", "replicas")]
    [InlineData("helth", "health")]
    [InlineData("colour", null)]
    [InlineData("x", null)]
    public void Unknown_fields_are_matched_to_close_valid_fields(string input, string? expected)
    {
        Assert.Equal(expected, Suggest.Closest(input, SpecSchema.ServiceFields));
    }

    [Fact]
    public void Swapped_letters_count_as_one_edit()
    {
        Assert.Equal(1, Suggest.Distance("dokcer", "docker"));
        Assert.Equal("docker", Suggest.Closest("dokcer", SpecSchema.Drivers));
    }

    [Theory]
    [InlineData("zone == a", "zone", ConstraintOperator.Equal, new[] { "a" })]
    [InlineData("disk!=hdd", "disk", ConstraintOperator.NotEqual, new[] { "hdd" })]
    [InlineData("region in (eu, us)", "region", ConstraintOperator.In, new[] { "eu", "us" })]
    [InlineData("tier not in (db)", "tier", ConstraintOperator.NotIn, new[] { "db" })]
    [InlineData("  example.com/rack   not   in (r1,r2) ", "example.com/rack", ConstraintOperator.NotIn, new[] { "r1", "r2" })]
    public void Constraints_are_read_in_four_forms(string text, string key, ConstraintOperator op, string[] values)
    {
        Assert.True(ConstraintText.TryParse(text, out var constraint, out var error), error);
        Assert.Equal(key, constraint.Key);
        Assert.Equal(op, constraint.Operator);
        Assert.Equal(values, constraint.Values);
        Assert.Equal(text.Trim(), constraint.Text);
    }

    [Theory]
    [InlineData("zone = a", "\"zone = a\" is not a constraint; did you mean \"zone == a\"? (write key == value, key != value, key in (a, b) or key not in (a, b))")]
    [InlineData("zone: a", "\"zone: a\" is not a constraint; did you mean \"zone == a\"? (write key == value, key != value, key in (a, b) or key not in (a, b))")]
    [InlineData("zone <> a", "\"zone <> a\" is not a constraint; did you mean \"zone != a\"? (write key == value, key != value, key in (a, b) or key not in (a, b))")]
    [InlineData("region in [eu, us]", "\"region in [eu, us]\" is not a constraint; did you mean \"region in (eu, us)\"? (write key == value, key != value, key in (a, b) or key not in (a, b))")]
    [InlineData("ssd", "\"ssd\" is not a constraint; write key == value, key != value, key in (a, b) or key not in (a, b)")]
    [InlineData("zone == a b", "\"zone == a b\" is not a constraint; write key == value, key != value, key in (a, b) or key not in (a, b)")]
    [InlineData("-zone == a", "\"-zone\" in \"-zone == a\" is not a label key; keys are letters, digits, '-', '_', '.' and '/', such as zone or disk-type")]
    [InlineData("zone in (a, )", "\"zone in (a, )\" has an empty value; list at least one value, such as zone in (a, b)")]
    public void Malformed_constraints_show_the_accepted_forms(string text, string message)
    {
        Assert.False(ConstraintText.TryParse(text, out _, out var error));
        Assert.Equal(message, error);
    }

    [Fact]
    public void Constraints_format_in_canonical_form_and_parse_back()
    {
        var constraint = new Constraint { Key = "region", Operator = ConstraintOperator.In, Values = { "eu", "us" } };

        var text = ConstraintText.Format(constraint);

        Assert.Equal("region in (eu, us)", text);
        Assert.True(ConstraintText.TryParse(text, out var parsed, out _));
        constraint.Text = text;
        Assert.Equal(constraint, parsed);
    }
}
