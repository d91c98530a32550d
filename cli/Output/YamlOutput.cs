using System.Text.Json.Nodes;
using Google.Protobuf;
using YamlDotNet.Serialization;

namespace Orchestrator.Cli.Output;

/// <summary>YAML of any protobuf object, converted from its protobuf JSON (same field names and values).</summary>
public static class YamlOutput
{
    private static readonly ISerializer Serializer = new SerializerBuilder().DisableAliases().WithQuotingNecessaryStrings().Build();

    public static string Format(IMessage message) => Serializer.Serialize(ToPlain(JsonOutput.ToNode(message)));

    public static string FormatList(IEnumerable<IMessage> messages) =>
        Serializer.Serialize(new Dictionary<string, object?> { ["items"] = messages.Select(m => ToPlain(JsonOutput.ToNode(m))).ToList() });

    private static object? ToPlain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => ToPlain(p.Value)),
        JsonArray a => a.Select(ToPlain).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
            System.Text.Json.JsonValueKind.True => true,
            System.Text.Json.JsonValueKind.False => false,
            System.Text.Json.JsonValueKind.Number => v.GetValue<decimal>(),
            _ => null,
        },
        _ => null,
    };
}
