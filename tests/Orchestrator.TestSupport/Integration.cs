namespace Orchestrator.TestSupport;

/// <summary>
/// Gates for integration tests that need a real external program. When it is missing the
/// test is skipped with a message saying how to get it, unless <c>ORC_REQUIRE_INTEGRATION=1</c>
/// (CI sets it), where a missing dependency is a failure: CI never counts a skip as a pass.
/// </summary>
public static class Integration
{
    public const string RequireVariable = "ORC_REQUIRE_INTEGRATION";
    public const string EtcdBinaryVariable = "ORC_ETCD_BINARY";
    public const string EtcdMissing = "etcd not found: install etcd-server (apt-get install etcd-server) or set ORC_ETCD_BINARY to the etcd binary";

    // xunit v3 reports a test whose exception message starts with this token as skipped, the
    // rest of the message being the reason (what Assert.Skip throws; the token type is internal to xunit).
    private const string DynamicSkipToken = "$XunitDynamicSkip$";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>The etcd binary: <c>ORC_ETCD_BINARY</c> if set, else <c>etcd</c> on the PATH, else null.</summary>
    public static string? FindEtcd()
    {
        var configured = Environment.GetEnvironmentVariable(EtcdBinaryVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured) ? configured : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "etcd"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>The etcd binary, or a skip (a failure under ORC_REQUIRE_INTEGRATION=1) saying how to install it.</summary>
    public static string RequireEtcd()
    {
        var binary = FindEtcd();
        if (binary is null)
        {
            var configured = Environment.GetEnvironmentVariable(EtcdBinaryVariable);
            Unavailable(string.IsNullOrWhiteSpace(configured) ? EtcdMissing : $"{EtcdMissing} (ORC_ETCD_BINARY is '{configured}', which does not exist)");
        }

        return binary!;
    }

    /// <summary>Skips the current test with <paramref name="reason"/>, or fails it when integration tests are required.</summary>
    public static void Unavailable(string reason)
    {
        if (Required)
        {
            throw new IntegrationUnavailableException($"{reason} ({RequireVariable}=1 makes a missing dependency a failure)");
        }

        throw new IntegrationUnavailableException(DynamicSkipToken + reason);
    }
}

/// <summary>
/// A dependency of an integration test is missing. Its message starts with xunit's dynamic
/// skip token when the test should be skipped rather than failed.
/// </summary>
public sealed class IntegrationUnavailableException : Exception
{
    public IntegrationUnavailableException()
    {
    }

    public IntegrationUnavailableException(string message) : base(message)
    {
    }

    public IntegrationUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }
}
