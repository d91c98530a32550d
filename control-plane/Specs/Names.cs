using System.Text;
using System.Text.RegularExpressions;

namespace Orchestrator.ControlPlane.Specs;

/// <summary>Rules for the names users give to objects, ports, environment variables and node labels.</summary>
public static partial class Names
{
    /// <summary>The longest DNS label: 63 characters.</summary>
    public const int MaxDnsLabelLength = 63;

    /// <summary>True for a DNS label: <c>[a-z0-9]([-a-z0-9]*[a-z0-9])?</c>, at most 63 characters.</summary>
    public static bool IsValidDnsLabel(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxDnsLabelLength && DnsLabel().IsMatch(name);

    /// <summary>
    /// The DNS label closest to <paramref name="name"/> (<c>Web_App</c> gives <c>web-app</c>), or null when
    /// nothing usable is left after lowering case and turning other characters into dashes.
    /// </summary>
    public static string? SuggestDnsLabel(string name)
    {
        var builder = new StringBuilder();
        foreach (var c in name.Trim().ToLowerInvariant())
        {
            if (c is (>= 'a' and <= 'z') or (>= '0' and <= '9'))
            {
                builder.Append(c);
            }
            else if (builder.Length > 0 && builder[^1] != '-')
            {
                builder.Append('-');
            }
        }

        var suggestion = builder.ToString().Trim('-');
        if (suggestion.Length > MaxDnsLabelLength)
        {
            suggestion = suggestion[..MaxDnsLabelLength].TrimEnd('-');
        }

        return IsValidDnsLabel(suggestion) ? suggestion : null;
    }

    /// <summary>True for a portable environment variable name: <c>[A-Za-z_][A-Za-z0-9_]*</c>.</summary>
    public static bool IsValidEnvName(string? name) => !string.IsNullOrEmpty(name) && EnvName().IsMatch(name);

    /// <summary>
    /// True for a node label key: letters, digits, <c>-</c>, <c>_</c>, <c>.</c> and <c>/</c>, starting and
    /// ending with a letter or digit (<c>zone</c>, <c>disk-type</c>, <c>example.com/rack</c>).
    /// </summary>
    public static bool IsValidLabelKey(string? key) =>
        !string.IsNullOrEmpty(key) && key.Length <= 253 && LabelKey().IsMatch(key);

    /// <summary>True for a node label value: letters, digits, <c>-</c>, <c>_</c> and <c>.</c>, at most 63.</summary>
    public static bool IsValidLabelValue(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= 63 && LabelValue().IsMatch(value);

    /// <summary>The environment variable that carries a port's host port: <c>PORT_</c> and the name in upper case, dashes as underscores.</summary>
    public static string PortVariable(string portName) =>
        "PORT_" + portName.ToUpperInvariant().Replace('-', '_');

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvName();

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelKey();

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelValue();
}
