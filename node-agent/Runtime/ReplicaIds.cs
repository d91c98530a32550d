using System.Text.RegularExpressions;

namespace Orchestrator.NodeAgent.Runtime;

/// <summary>
/// What a replica id may look like on a node: it becomes a directory name (process runtime) and
/// part of a container name (docker), so it must be safe in both.
/// </summary>
public static partial class ReplicaIds
{
    /// <summary>Throws an <see cref="ArgumentException"/> that says what is allowed when <paramref name="replicaId"/> is not.</summary>
    public static void Validate(string replicaId)
    {
        ArgumentNullException.ThrowIfNull(replicaId);
        if (!Pattern().IsMatch(replicaId))
        {
            throw new ArgumentException(
                $"replica id \"{replicaId}\" is not valid: use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)",
                nameof(replicaId));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex Pattern();
}
