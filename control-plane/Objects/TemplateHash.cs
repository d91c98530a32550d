using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>
/// SHA-256 of a <see cref="ReplicaTemplate"/>, hex: equal templates have equal hashes.
/// <para>
/// Canonical form: the protobuf binary encoding of a copy of the template in which every
/// map (at any depth) has its entries sorted by key (ordinal). Google.Protobuf writes
/// fields in field-number order and omits proto3 defaults, and map fields (a MapField keeps insertion
/// order) are the only part whose wire order depends on how the message was built (insertion order); sorting
/// them makes the bytes a function of the value alone. Adding a new field to the template
/// later leaves the hash of every existing template unchanged while the field is unset.
/// </para>
/// </summary>
public static class TemplateHash
{
    public static string Compute(ReplicaTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        var canonical = template.Clone();
        SortMaps(canonical);
        return Convert.ToHexStringLower(SHA256.HashData(canonical.ToByteArray()));
    }

    private static void SortMaps(IMessage message)
    {
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            var value = field.Accessor.GetValue(message);
            if (value is null)
            {
                continue;
            }

            if (field.IsMap)
            {
                SortMap(field, (System.Collections.IDictionary)value);
            }
            else if (field.IsRepeated && field.FieldType == FieldType.Message)
            {
                foreach (var item in (System.Collections.IList)value)
                {
                    SortMaps((IMessage)item);
                }
            }
            else if (field.FieldType == FieldType.Message && value is IMessage child)
            {
                SortMaps(child);
            }
        }
    }

    private static void SortMap(FieldDescriptor field, System.Collections.IDictionary map)
    {
        var entries = new List<(object Key, object? Value)>();
        foreach (System.Collections.DictionaryEntry entry in map)
        {
            entries.Add((entry.Key, entry.Value));
        }

        entries.Sort((a, b) => string.CompareOrdinal(Convert.ToString(a.Key, System.Globalization.CultureInfo.InvariantCulture), Convert.ToString(b.Key, System.Globalization.CultureInfo.InvariantCulture)));
        map.Clear();
        var valueField = field.MessageType.FindFieldByNumber(2);
        foreach (var (key, value) in entries)
        {
            if (valueField.FieldType == FieldType.Message && value is IMessage child)
            {
                SortMaps(child);
            }

            map.Add(key, value);
        }
    }
}
