using System.Collections;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>
/// Describes, field by field and in plain words, how one spec differs from another:
/// <c>replicas 3 -> 5</c>, <c>template: image nginx:1.26 -> nginx:1.27</c>,
/// <c>template: env.GREETING hello -> hi</c>, <c>template: resources.memory 128Mi -> 256Mi</c>.
/// Fields of the replica template (which make a new revision) are prefixed with <c>template: </c>.
/// </summary>
public static class SpecDiff
{
    private const string None = "(none)";

    public static IReadOnlyList<string> Describe(ServiceSpec before, ServiceSpec after) => Describe((IMessage)before, after);

    public static IReadOnlyList<string> Describe(JobSpec before, JobSpec after) => Describe((IMessage)before, after);

    public static IReadOnlyList<string> Describe(IMessage before, IMessage after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var changes = new List<string>();
        DiffMessage(before, after, "", changes);
        return changes
            .Select(c => c.StartsWith("template.", StringComparison.Ordinal) ? "template: " + c["template.".Length..] : c)
            .ToList();
    }

    private static void DiffMessage(IMessage before, IMessage after, string path, List<string> changes)
    {
        foreach (var field in before.Descriptor.Fields.InDeclarationOrder())
        {
            if (path.Length == 0 && field.Name == "name")
            {
                // The name identifies the object; a different name is a different object.
                continue;
            }

            var name = Join(path, DisplayName(field));
            var a = field.Accessor.GetValue(before);
            var b = field.Accessor.GetValue(after);
            if (field.IsMap)
            {
                DiffMap(field, (IDictionary)a, (IDictionary)b, name, changes);
            }
            else if (field.IsRepeated)
            {
                DiffList(field, (IList)a, (IList)b, name, changes);
            }
            else if (field.FieldType == FieldType.Message)
            {
                var ma = HasValue(field, before) ? (IMessage?)a : null;
                var mb = HasValue(field, after) ? (IMessage?)b : null;
                if (Equals(ma, mb))
                {
                    continue;
                }

                if (ma is null || mb is null || IsWellKnown(field.MessageType))
                {
                    changes.Add($"{name} {FormatValue(field, ma)} -> {FormatValue(field, mb)}");
                }
                else
                {
                    DiffMessage(ma, mb, name, changes);
                }
            }
            else if (field.ContainingOneof is not null && !field.ContainingOneof.IsSynthetic)
            {
                var ha = HasValue(field, before);
                var hb = HasValue(field, after);
                if (ha != hb || (ha && !Equals(a, b)))
                {
                    changes.Add($"{name} {(ha ? FormatValue(field, a) : None)} -> {(hb ? FormatValue(field, b) : None)}");
                }
            }
            else if (!Equals(a, b))
            {
                changes.Add($"{name} {FormatValue(field, a)} -> {FormatValue(field, b)}");
            }
        }
    }

    private static void DiffMap(FieldDescriptor field, IDictionary a, IDictionary b, string name, List<string> changes)
    {
        var valueField = field.MessageType.FindFieldByNumber(2);
        var keys = a.Keys.Cast<object>().Concat(b.Keys.Cast<object>())
            .Select(k => Convert.ToString(k, CultureInfo.InvariantCulture)!)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var va = FindByText(a, key);
            var vb = FindByText(b, key);
            if (!Equals(va, vb))
            {
                changes.Add($"{name}.{key} {(va is null ? None : FormatValue(valueField, va))} -> {(vb is null ? None : FormatValue(valueField, vb))}");
            }
        }
    }

    private static object? FindByText(IDictionary map, string key)
    {
        foreach (DictionaryEntry entry in map)
        {
            if (Convert.ToString(entry.Key, CultureInfo.InvariantCulture) == key)
            {
                return entry.Value;
            }
        }

        return null;
    }

    private static void DiffList(FieldDescriptor field, IList a, IList b, string name, List<string> changes)
    {
        if (a.Count == b.Count && field.FieldType == FieldType.Message && !IsWellKnown(field.MessageType))
        {
            for (var i = 0; i < a.Count; i++)
            {
                if (!Equals(a[i], b[i]))
                {
                    DiffMessage((IMessage)a[i]!, (IMessage)b[i]!, $"{name}[{i}]", changes);
                }
            }

            return;
        }

        if (!SequenceEqual(a, b))
        {
            changes.Add($"{name} {FormatList(field, a)} -> {FormatList(field, b)}");
        }
    }

    private static bool SequenceEqual(IList a, IList b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!Equals(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasValue(FieldDescriptor field, IMessage message) =>
        field.HasPresence ? field.Accessor.HasValue(message) : field.Accessor.GetValue(message) is not null;

    /// <summary>Messages shown as one value, the way the spec file writes them (<c>5s</c>, <c>25%</c>, <c>zone == a</c>).</summary>
    private static bool IsWellKnown(MessageDescriptor type) =>
        type.FullName is "google.protobuf.Duration" or "google.protobuf.Timestamp" or "orchestrator.v1.IntOrPercent" or "orchestrator.v1.Constraint";

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    /// <summary>Names as the spec file spells them where they differ from the proto field.</summary>
    private static string DisplayName(FieldDescriptor field) => field.Name switch
    {
        "cpu_millis" => "cpu",
        "memory_bytes" => "memory",
        _ => field.JsonName,
    };

    private static string FormatList(FieldDescriptor field, IList items) =>
        "[" + string.Join(", ", items.Cast<object?>().Select(i => FormatValue(field, i))) + "]";

    private static string FormatValue(FieldDescriptor field, object? value)
    {
        switch (value)
        {
            case null:
                return None;
            case Duration d:
                return FormatDuration(d.ToTimeSpan());
            case Timestamp t:
                return t.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture);
            case IntOrPercent p:
                return p.Percent ? $"{p.Value.ToString(CultureInfo.InvariantCulture)}%" : p.Value.ToString(CultureInfo.InvariantCulture);
            case Constraint c when c.Text.Length > 0:
                return c.Text;
            case IMessage m:
                return ProtoJson.Format(m);
            case string s:
                return s.Length == 0 ? "\"\"" : s;
            case bool b:
                return b ? "true" : "false";
            default:
                break;
        }

        if (field.FieldType == FieldType.Enum)
        {
            var number = Convert.ToInt32(value, CultureInfo.InvariantCulture);
            var enumValue = field.EnumType.FindValueByNumber(number);
            if (enumValue is null)
            {
                return number.ToString(CultureInfo.InvariantCulture);
            }

            var prefix = ToUpperSnake(field.EnumType.Name) + "_";
            var text = enumValue.Name.StartsWith(prefix, StringComparison.Ordinal) ? enumValue.Name[prefix.Length..] : enumValue.Name;
            return text == "UNSPECIFIED" ? "(default)" : text.ToLowerInvariant().Replace('_', '-');
        }

        var number64 = Convert.ToInt64(value, CultureInfo.InvariantCulture);
        return field.Name switch
        {
            "cpu_millis" => $"{number64}m",
            "memory_bytes" => FormatBytes(number64),
            _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
        };
    }

    private static string ToUpperSnake(string pascal)
    {
        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < pascal.Length; i++)
        {
            if (i > 0 && char.IsUpper(pascal[i]))
            {
                sb.Append('_');
            }

            sb.Append(char.ToUpperInvariant(pascal[i]));
        }

        return sb.ToString();
    }

    private static string FormatBytes(long bytes)
    {
        (long Size, string Suffix)[] units = [(1L << 40, "Ti"), (1L << 30, "Gi"), (1L << 20, "Mi"), (1L << 10, "Ki")];
        foreach (var (size, suffix) in units)
        {
            if (bytes != 0 && bytes % size == 0)
            {
                return (bytes / size).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Formats like the spec accepts durations: <c>500ms</c>, <c>5s</c>, <c>2m</c>, <c>1m30s</c>.</summary>
    public static string FormatDuration(TimeSpan d)
    {
        if (d == TimeSpan.Zero)
        {
            return "0s";
        }

        if (d.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            return d.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var parts = new System.Text.StringBuilder();
        if (d.TotalHours >= 1)
        {
            parts.Append(CultureInfo.InvariantCulture, $"{(long)d.TotalHours}h");
        }

        if (d.Minutes != 0)
        {
            parts.Append(CultureInfo.InvariantCulture, $"{d.Minutes}m");
        }

        if (d.Seconds != 0)
        {
            parts.Append(CultureInfo.InvariantCulture, $"{d.Seconds}s");
        }

        return parts.ToString();
    }
}
