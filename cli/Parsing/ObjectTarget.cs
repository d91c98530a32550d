namespace Orchestrator.Cli.Parsing;

/// <summary>What a command points at: a kind and, optionally, a name.</summary>
public sealed record ObjectTarget(KindInfo Kind, string? Name)
{
    public override string ToString() => Name is null ? Kind.Plural : $"{Kind.Singular}/{Name}";

    /// <summary>
    /// Reads <c>KIND</c>, <c>KIND NAME</c> or <c>KIND/NAME</c>. Both forms at once
    /// (<c>service/web api</c>) are a usage error, as is an empty name.
    /// </summary>
    public static ObjectTarget Parse(string kindOrRef, string? name, IReadOnlyCollection<KindInfo>? allowed = null)
    {
        // An unknown flag lands in an optional argument; say it is a flag, not a strange name.
        foreach (var word in new[] { kindOrRef, name })
        {
            if (word is { Length: > 1 } && word[0] == '-')
            {
                throw new UsageException($"unknown option \"{word}\"");
            }
        }

        var slash = kindOrRef.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            var kindText = kindOrRef[..slash];
            var refName = kindOrRef[(slash + 1)..];
            if (refName.Length == 0)
            {
                throw new UsageException($"\"{kindOrRef}\" has no name after the slash", $"Write {kindText}/NAME or {kindText} NAME.");
            }

            if (name is not null)
            {
                throw new UsageException(
                    $"give the name once: either \"{kindOrRef}\" or \"{kindText} {name}\", not both",
                    $"Write {kindText}/NAME or {kindText} NAME.");
            }

            return new ObjectTarget(ObjectKinds.Parse(kindText, allowed), refName);
        }

        if (name is not null && name.Length == 0)
        {
            throw new UsageException("the name is empty", "Give the object's name, e.g. \"orc get service web\".");
        }

        return new ObjectTarget(ObjectKinds.Parse(kindOrRef, allowed), name);
    }

    /// <summary>Like <see cref="Parse"/> but the name is required.</summary>
    public static ObjectTarget ParseNamed(string kindOrRef, string? name, string commandLine, IReadOnlyCollection<KindInfo>? allowed = null)
    {
        var target = Parse(kindOrRef, name, allowed);
        return target.Name is null
            ? throw new UsageException($"{commandLine} needs a name", $"Write \"orc {commandLine} {target.Kind.Singular} NAME\" or \"orc {commandLine} {target.Kind.Singular}/NAME\".")
            : target;
    }
}
