namespace Orchestrator.Cli;

/// <summary>The command line itself is wrong (unknown kind, missing name, bad flag value): exit code 2.</summary>
public sealed class UsageException(string message, string? hint = null) : Exception(message)
{
    /// <summary>A second line telling the user how to fix it; null for the generic "--help" hint.</summary>
    public string? Hint { get; } = hint;
}

/// <summary>The command could not do what was asked (file missing, object not found): exit code 1, message already user-facing.</summary>
public sealed class CommandException(string message) : Exception(message);

/// <summary>Process exit codes of <c>orc</c>.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;

    /// <summary><c>orc plan</c>: the plan is valid but some new replica would fit on no node and stay Pending.</summary>
    public const int WouldStayPending = 3;
}
