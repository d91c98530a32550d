using System.Security.Cryptography;

namespace Orchestrator.ControlPlane.Controllers;

/// <summary>
/// Replica ids: <c>&lt;owner&gt;-&lt;5 random [a-z0-9]&gt;</c> (<c>web-7f3k2</c>), a DNS label of at most
/// 63 characters: a long owner name is cut to 57 characters (and any trailing '-' dropped).
/// Uniqueness is the store's job: a replica is created with a guard that its key is absent,
/// and a clash simply draws another suffix.
/// </summary>
public static class ReplicaIds
{
    public const int SuffixLength = 5;
    private const int MaxLength = 63;
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    public static string New(string owner) => Prefix(owner) + RandomNumberGenerator.GetString(Alphabet, SuffixLength);

    /// <summary>
    /// What every id of <paramref name="owner"/>'s replicas starts with (<c>web-</c>): a store list
    /// under it finds them without reading the whole cluster (it may also find the replicas of an
    /// owner whose name continues, <c>web-api-…</c>, so callers still check the owner).
    /// </summary>
    public static string Prefix(string owner)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        var head = owner.Length > MaxLength - SuffixLength - 1 ? owner[..(MaxLength - SuffixLength - 1)].TrimEnd('-') : owner;
        return head + "-";
    }

    /// <summary>The owner name an id was made from, when it was not cut (null if the id has no suffix).</summary>
    public static string? OwnerOf(string id) =>
        id.Length > SuffixLength + 1 && id[^(SuffixLength + 1)] == '-' ? id[..^(SuffixLength + 1)] : null;
}
