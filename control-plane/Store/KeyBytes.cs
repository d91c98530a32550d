using System.Text;

namespace Orchestrator.ControlPlane.Store;

/// <summary>
/// Keys as etcd sees them: UTF-8 bytes compared byte by byte. Both stores order keys this way,
/// so a list or a transaction's events come out in the same order from either.
/// </summary>
internal static class KeyBytes
{
    public static byte[] Of(string key) => Encoding.UTF8.GetBytes(key);

    public static string ToKey(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>
    /// The smallest key greater than every key starting with <paramref name="prefix"/>
    /// (etcd's range_end for a prefix): the prefix with its last byte below 0xFF incremented
    /// and the rest dropped. Null when there is none (empty prefix, or all bytes 0xFF): no upper bound.
    /// Example: "web/" -> "web0" ('/' + 1 = '0'), so "web2/..." is outside the range of "web/".
    /// </summary>
    public static byte[]? PrefixEnd(byte[] prefix)
    {
        for (var i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] < 0xFF)
            {
                var end = prefix[..(i + 1)];
                end[i]++;
                return end;
            }
        }

        return null;
    }

    public static int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);

    public static void ValidateKey(string key, string paramName)
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (key.Length == 0)
        {
            throw new ArgumentException("a key must not be empty; use a name such as /orc/services/web", paramName);
        }
    }

    public static void ValidateRevision(long revision, string paramName)
    {
        if (revision < 0)
        {
            throw new ArgumentOutOfRangeException(paramName, revision, "a revision is 0 (current) or a positive store revision");
        }
    }

    /// <summary>
    /// Rejects what etcd rejects: a key written twice in one branch, or a put inside a prefix the
    /// same branch deletes. Such a transaction has no single meaning, so neither store runs it.
    /// </summary>
    public static void ValidateTxn(Txn txn)
    {
        ArgumentNullException.ThrowIfNull(txn);
        ArgumentNullException.ThrowIfNull(txn.If, nameof(txn));
        ArgumentNullException.ThrowIfNull(txn.Then, nameof(txn));
        ArgumentNullException.ThrowIfNull(txn.Else, nameof(txn));
        foreach (var compare in txn.If)
        {
            ArgumentNullException.ThrowIfNull(compare, nameof(txn));
            ValidateKey(compare.Key, nameof(txn));
        }

        ValidateBranch(txn.Then, "Then");
        ValidateBranch(txn.Else, "Else");
    }

    // The parameter is named for the transaction it belongs to, so errors name the caller's argument.
    private static void ValidateBranch(IReadOnlyList<TxnOp> txn, string branch)
    {
        if (txn.Count == 1 && txn[0] is PutOp { Lease: >= 0, Value: not null } single)
        {
            // The common single put: nothing can clash, so skip the bookkeeping below.
            ValidateKey(single.Key, nameof(txn));
            return;
        }

        var puts = new HashSet<string>(StringComparer.Ordinal);
        var deletedKeys = new List<string>();
        var deletedPrefixes = new List<string>();
        foreach (var op in txn)
        {
            switch (op)
            {
                case PutOp put:
                    ValidateKey(put.Key, nameof(txn));
                    ArgumentNullException.ThrowIfNull(put.Value, nameof(txn));
                    if (put.Lease < 0)
                    {
                        throw new ArgumentException($"txn {branch}: put of '{put.Key}' has lease {put.Lease}; use 0 for no lease or an id from GrantLeaseAsync", nameof(txn));
                    }

                    if (!puts.Add(put.Key))
                    {
                        throw new ArgumentException($"txn {branch} puts '{put.Key}' twice; write each key at most once per transaction", nameof(txn));
                    }

                    break;
                case DeleteOp delete:
                    ValidateKey(delete.Key, nameof(txn));
                    deletedKeys.Add(delete.Key);
                    break;
                case DeletePrefixOp deletePrefix:
                    ArgumentNullException.ThrowIfNull(deletePrefix.Prefix, nameof(txn));
                    deletedPrefixes.Add(deletePrefix.Prefix);
                    break;
                case GetOp get:
                    ValidateKey(get.Key, nameof(txn));
                    break;
                case null:
                    throw new ArgumentNullException(nameof(txn), $"txn {branch} holds a null operation");
                default:
                    throw new ArgumentException($"txn {branch}: unknown operation {op.GetType().Name}", nameof(txn));
            }
        }

        // etcd refuses a put that a delete in the same branch also covers (its result would depend on order).
        foreach (var key in deletedKeys.Where(puts.Contains))
        {
            throw new ArgumentException($"txn {branch} both puts and deletes '{key}'; split it into two transactions", nameof(txn));
        }

        foreach (var prefix in deletedPrefixes)
        {
            var clash = puts.FirstOrDefault(k => k.StartsWith(prefix, StringComparison.Ordinal));
            if (clash is not null)
            {
                throw new ArgumentException($"txn {branch} puts '{clash}' and deletes the prefix '{prefix}' that holds it; split it into two transactions", nameof(txn));
            }
        }
    }
}
