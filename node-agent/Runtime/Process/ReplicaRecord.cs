using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>What the runtime writes to <c>replica.json</c> when it starts a replica: enough to re-adopt it.</summary>
internal sealed record ReplicaRecord
{
    public required string ReplicaId { get; init; }

    public string OwnerKind { get; init; } = "";

    public string OwnerName { get; init; } = "";

    public long Revision { get; init; }

    public long Generation { get; init; }

    public string NodeName { get; init; } = "";

    /// <summary>The wrapper's pid, which is also its session and process group id.</summary>
    public int Pid { get; init; }

    /// <summary>Field 22 of <c>/proc/&lt;pid&gt;/stat</c> at start: a pid with another start time is someone else.</summary>
    public long StartTicks { get; init; }

    public DateTimeOffset StartedAt { get; init; }

    public string? Cgroup { get; init; }

    public long MemoryBytes { get; init; }
}

/// <summary>How a replica ended, written by the runtime to <c>status.json</c> once it knows.</summary>
internal sealed record ExitRecord(int? ExitCode, string Reason, DateTimeOffset FinishedAt);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReplicaRecord))]
[JsonSerializable(typeof(ExitRecord))]
internal sealed partial class ProcessStateJson : JsonSerializerContext
{
    /// <summary>Writes a file atomically (temp file + rename), so a crash never leaves half a record.</summary>
    public static void WriteAtomically<T>(string path, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(value, typeInfo));
        File.Move(temp, path, overwrite: true);
    }

    public static T? ReadOrDefault<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), typeInfo);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }
}
