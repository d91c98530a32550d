using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>
/// Protobuf JSON (camelCase fields, enum names, 64-bit numbers as strings, defaults omitted),
/// indented for people or compact for one-object-per-line streams.
/// </summary>
public static class JsonOutput
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default);

    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions Compact = new()
    {
        WriteIndented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The message inside an <see cref="V1.Object"/> (a Service, a Node, ...), which is what users see.</summary>
    public static IMessage Inner(V1.Object item) => item.KindCase switch
    {
        V1.Object.KindOneofCase.Service => item.Service,
        V1.Object.KindOneofCase.Job => item.Job,
        V1.Object.KindOneofCase.Node => item.Node,
        V1.Object.KindOneofCase.Replica => item.Replica,
        V1.Object.KindOneofCase.Event => item.Event,
        V1.Object.KindOneofCase.Endpoints => item.Endpoints,
        V1.Object.KindOneofCase.ServiceRevision => item.ServiceRevision,
        V1.Object.KindOneofCase.ControlPlane => item.ControlPlane,
        _ => item,
    };

    public static JsonNode ToNode(IMessage message) => JsonNode.Parse(Formatter.Format(message))!;

    /// <summary>One object, indented.</summary>
    public static string Format(IMessage message) => ToNode(message).ToJsonString(Indented);

    /// <summary>A list as <c>{"items": [...]}</c>, indented.</summary>
    public static string FormatList(IEnumerable<IMessage> messages)
    {
        var items = new JsonArray(messages.Select(m => (JsonNode?)ToNode(m)).ToArray());
        return new JsonObject { ["items"] = items }.ToJsonString(Indented);
    }

    /// <summary>One watch event on one line: <c>{"type":"MODIFIED","kind":"service","revision":12,"object":{...}}</c>.</summary>
    public static string FormatWatchEvent(WatchEvent e, string kind)
    {
        var node = new JsonObject
        {
            ["type"] = WatchType(e.Type),
            ["kind"] = kind,
            ["revision"] = e.Revision,
        };
        if (e.Object is not null)
        {
            node["object"] = ToNode(Inner(e.Object));
        }

        return node.ToJsonString(Compact);
    }

    public static string WatchType(WatchEventType type) => type switch
    {
        WatchEventType.Added => "ADDED",
        WatchEventType.Modified => "MODIFIED",
        WatchEventType.Deleted => "DELETED",
        WatchEventType.Synced => "SYNCED",
        _ => "UNKNOWN",
    };
}
