using System.Text;
using Google.Protobuf;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>
/// The store's value encoding: protobuf JSON (UTF-8), so <c>etcdctl get --prefix /orc/</c>
/// shows readable objects. Fields left at their default are omitted, as protobuf JSON does;
/// unknown fields are ignored on read so an older control plane can read what a newer one wrote.
/// </summary>
public static class ProtoJson
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public static byte[] Encode(IMessage message) => Encoding.UTF8.GetBytes(Formatter.Format(message));

    public static string Format(IMessage message) => Formatter.Format(message);

    /// <exception cref="InvalidStoredObjectException">The bytes are not a JSON <typeparamref name="T"/>.</exception>
    public static T Decode<T>(byte[] value, string key)
        where T : IMessage<T>, new()
    {
        try
        {
            return Parser.Parse<T>(Encoding.UTF8.GetString(value));
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new InvalidStoredObjectException(key, typeof(T).Name, e);
        }
    }
}
