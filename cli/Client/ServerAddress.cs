namespace Orchestrator.Cli.Client;

/// <summary>Reads the <c>--server</c> value: <c>http://host:port</c>, <c>https://host:port</c>, or <c>host:port</c> (taken as http).</summary>
public static class ServerAddress
{
    public const string Default = "http://127.0.0.1:7070";
    public const string EnvironmentVariable = "ORC_SERVER";

    public static Uri Parse(string text)
    {
        var value = text.Trim();
        if (value.Length == 0)
        {
            throw new UsageException("--server is empty", $"Give the control plane's address, e.g. --server {Default}.");
        }

        if (!value.Contains("://", StringComparison.Ordinal))
        {
            value = "http://" + value;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            throw new UsageException(
                $"--server \"{text}\" is not an http:// or https:// address",
                $"Give the control plane's address, e.g. --server {Default} (or set {EnvironmentVariable}).");
        }

        return uri;
    }

    /// <summary>The address as users write it: no trailing slash.</summary>
    public static string Display(Uri server) => server.GetLeftPart(UriPartial.Authority) + server.AbsolutePath.TrimEnd('/');
}
