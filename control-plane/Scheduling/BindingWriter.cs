using System.Globalization;
using System.Runtime.CompilerServices;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// Writes the two values a binding stores, the bound replica and its Scheduled status, straight
/// to UTF-8: byte for byte what <see cref="ProtoJson.Encode"/> writes for the same objects (the
/// store's value format is a contract, docs/adr/0002-store-key-layout.md), without cloning the
/// replica or going through protobuf's reflection-driven formatter and a UTF-16 string. A replica's
/// template is formatted by <see cref="ProtoJson"/> once per template object and reused: the
/// placement loop shares one template object among the pending replicas of one owner revision.
/// <para>
/// It writes only what it knows to write exactly as the formatter does: strings of printable
/// ASCII without <c>"</c>, <c>\</c>, <c>&lt;</c> or <c>&gt;</c> (the formatter escapes those),
/// finite doubles, defined enum values, and no status endpoints. Anything else makes
/// <see cref="TryWrite(Replica, string, IReadOnlyDictionary{string, int}, Timestamp)"/> return null,
/// and the caller encodes with <see cref="ProtoJson"/>. A test compares both encodings for
/// representative replicas and pins the message fields this writer knows, so a new proto field
/// fails the build's tests until the writer learns it.
/// </para>
/// </summary>
public sealed class BindingWriter
{
    private static readonly string[] PhaseNames = EnumNames(ReplicaStatus.Descriptor.FindFieldByName("phase").EnumType);
    private static readonly string[] DesiredNames = EnumNames(ReplicaSpec.Descriptor.FindFieldByName("desired").EnumType);

    private readonly ConditionalWeakTable<ReplicaTemplate, byte[]> _templates = [];
    private byte[] _buffer = new byte[4096];
    private int _length;
    private bool _first;
    private bool _valid;

    /// <summary>The bound replica a binding stores (what <see cref="TryWrite"/> writes the bytes of).</summary>
    public static Replica Bound(Replica pending, string node, IReadOnlyDictionary<string, int> hostPorts, Timestamp at)
    {
        ArgumentNullException.ThrowIfNull(pending);
        ArgumentNullException.ThrowIfNull(hostPorts);
        var bound = pending.Clone();
        bound.Status = null;
        bound.Meta ??= new ObjectMeta();
        bound.Meta.ResourceVersion = 0;
        bound.Meta.UpdatedAt = at;
        bound.Spec.Node = node;
        bound.Spec.HostPorts.Clear();
        foreach (var (name, port) in hostPorts)
        {
            bound.Spec.HostPorts[name] = port;
        }

        bound.Spec.Generation++;
        return bound;
    }

    /// <summary>The status a binding stores (what <see cref="TryWriteScheduled"/> writes the bytes of).</summary>
    public static ReplicaStatus Scheduled(ReplicaStatus? current, PlacementExplanation explanation, Timestamp at)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        var status = current?.Clone() ?? new ReplicaStatus();
        status.Phase = Phase.Scheduled;
        status.Reason = "";
        status.Message = explanation.Message;
        status.LastTransitionAt = at;
        status.Placement = explanation;
        return status;
    }

    /// <summary>
    /// The bound replica: <paramref name="pending"/> without status, with <paramref name="node"/>,
    /// <paramref name="hostPorts"/> (in their order), generation + 1, resource version 0 and
    /// <c>meta.updatedAt</c> = <paramref name="at"/>. Null when a value needs the full formatter.
    /// </summary>
    public byte[]? TryWrite(Replica pending, string node, IReadOnlyDictionary<string, int> hostPorts, Timestamp at)
    {
        ArgumentNullException.ThrowIfNull(pending);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(hostPorts);
        ArgumentNullException.ThrowIfNull(at);
        _length = 0;
        _valid = true;
        BeginObject();

        // meta (1): always written, a binding gives it updatedAt.
        Field("meta");
        var meta = pending.Meta;
        BeginObject();
        if (meta is not null)
        {
            if (!StringField("name", meta.Name) || !StringField("uid", meta.Uid))
            {
                return null;
            }

            Int64Field("generation", meta.Generation);
            TimestampField("createdAt", meta.CreatedAt);
        }

        TimestampField("updatedAt", at);
        if (meta is not null && meta.Labels.Count > 0 && !StringMapField("labels", meta.Labels))
        {
            return null;
        }

        EndObject();

        // spec (2)
        if (pending.Spec is { } spec)
        {
            Field("spec");
            BeginObject();
            if (spec.Owner is { } owner)
            {
                Field("owner");
                BeginObject();
                if (!StringField("kind", owner.Kind) || !StringField("name", owner.Name))
                {
                    return null;
                }

                EndObject();
            }

            Int64Field("revision", spec.Revision);
            if (spec.Template is { } template)
            {
                Field("template");
                Raw(TemplateJson(template));
            }

            if (!StringField("node", node) || !EnumField("desired", (int)spec.Desired, DesiredNames))
            {
                return null;
            }

            Int64Field("generation", spec.Generation + 1);
            if (hostPorts.Count > 0)
            {
                Field("hostPorts");
                BeginObject();
                foreach (var (name, port) in hostPorts)
                {
                    if (!Key(name))
                    {
                        return null;
                    }

                    Int(port);
                }

                EndObject();
            }

            Int32Field("ordinal", spec.Ordinal);
            EndObject();
        }

        EndObject();
        return _valid ? _buffer.AsSpan(0, _length).ToArray() : null;
    }

    /// <summary>
    /// The status of a binding: <paramref name="current"/> (or an empty status) with phase
    /// Scheduled, no reason, the explanation's message, <c>lastTransitionAt</c> = <paramref name="at"/>
    /// and the explanation. Null when a value needs the full formatter.
    /// </summary>
    public byte[]? TryWriteScheduled(ReplicaStatus? current, PlacementExplanation explanation, Timestamp at)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        ArgumentNullException.ThrowIfNull(at);
        if (current is { Endpoints.Count: > 0 })
        {
            return null;
        }

        _length = 0;
        _valid = true;
        BeginObject();
        if (!EnumField("phase", (int)Phase.Scheduled, PhaseNames) || !StringField("message", explanation.Message))
        {
            return null;
        }

        if (current is not null)
        {
            Int32Field("exitCode", current.ExitCode);
            Int32Field("restarts", current.Restarts);
            TimestampField("startedAt", current.StartedAt);
            TimestampField("readyAt", current.ReadyAt);
            TimestampField("finishedAt", current.FinishedAt);
            TimestampField("nextRetryAt", current.NextRetryAt);
        }

        TimestampField("lastTransitionAt", at);
        Field("placement");
        if (!Explanation(explanation))
        {
            return null;
        }

        Int64Field("observedGeneration", current?.ObservedGeneration ?? 0);
        EndObject();
        return _valid ? _buffer.AsSpan(0, _length).ToArray() : null;
    }

    private bool Explanation(PlacementExplanation explanation)
    {
        BeginObject();
        TimestampField("decidedAt", explanation.DecidedAt);
        Int32Field("nodesTotal", explanation.NodesTotal);
        Int32Field("nodesFeasible", explanation.NodesFeasible);
        if (explanation.Rejected.Count > 0)
        {
            Field("rejected");
            BeginArray();
            foreach (var rule in explanation.Rejected)
            {
                Element();
                BeginObject();
                if (!StringField("rule", rule.Rule))
                {
                    return false;
                }

                Int32Field("nodes", rule.Nodes);
                EndObject();
            }

            EndArray();
        }

        if (explanation.Chosen is { } chosen)
        {
            Field("chosen");
            if (!Score(chosen))
            {
                return false;
            }
        }

        if (explanation.Alternatives.Count > 0)
        {
            Field("alternatives");
            BeginArray();
            foreach (var alternative in explanation.Alternatives)
            {
                Element();
                if (!Score(alternative))
                {
                    return false;
                }
            }

            EndArray();
        }

        if (!StringField("message", explanation.Message))
        {
            return false;
        }

        Int32Field("nodesEvaluated", explanation.NodesEvaluated);
        EndObject();
        return true;
    }

    private bool Score(NodeScore score)
    {
        BeginObject();
        if (!StringField("node", score.Node) || !DoubleField("total", score.Total))
        {
            return false;
        }

        if (score.Terms.Count > 0)
        {
            Field("terms");
            BeginArray();
            foreach (var term in score.Terms)
            {
                Element();
                BeginObject();
                if (!StringField("scorer", term.Scorer) || !DoubleField("score", term.Score) || !DoubleField("weight", term.Weight))
                {
                    return false;
                }

                EndObject();
            }

            EndArray();
        }

        EndObject();
        return true;
    }

    private byte[] TemplateJson(ReplicaTemplate template) =>
        _templates.GetValue(template, static t => ProtoJson.Encode(t));

    // The formatter's layout: "{ " fields separated by ", " " }", "[ " elements ", " " ]",
    // "name": value, and "{ }" for an object with no field set.
    private void BeginObject()
    {
        Ascii("{");
        _first = true;
    }

    private void EndObject()
    {
        Ascii(" }");
        _first = false;
    }

    private void BeginArray()
    {
        Ascii("[");
        _first = true;
    }

    private void EndArray()
    {
        Ascii(" ]");
        _first = false;
    }

    private void Element()
    {
        Ascii(_first ? " " : ", ");
        _first = false;
    }

    private void Field(string name)
    {
        Element();
        Ascii("\"");
        Ascii(name);
        Ascii("\": ");
    }

    private bool Key(string name)
    {
        Element();
        if (!QuotedString(name))
        {
            return false;
        }

        Ascii(": ");
        return true;
    }

    private bool StringField(string name, string value)
    {
        if (value.Length == 0)
        {
            return true;
        }

        Field(name);
        return QuotedString(value);
    }

    private bool StringMapField(string name, Google.Protobuf.Collections.MapField<string, string> map)
    {
        Field(name);
        BeginObject();
        foreach (var (key, value) in map)
        {
            if (!Key(key) || !QuotedString(value))
            {
                return false;
            }
        }

        EndObject();
        return true;
    }

    private bool EnumField(string name, int value, string[] names)
    {
        if (value == 0)
        {
            return true;
        }

        if (value < 0 || value >= names.Length || names[value] is null)
        {
            return false;
        }

        Field(name);
        Ascii("\"");
        Ascii(names[value]);
        Ascii("\"");
        return true;
    }

    private void Int32Field(string name, int value)
    {
        if (value != 0)
        {
            Field(name);
            Int(value);
        }
    }

    private void Int64Field(string name, long value)
    {
        if (value != 0)
        {
            Field(name);
            Ascii("\"");
            Int(value);
            Ascii("\"");
        }
    }

    private bool DoubleField(string name, double value)
    {
        if (value == 0 && !double.IsNegative(value))
        {
            return true;
        }

        if (!double.IsFinite(value) || value == 0)
        {
            return false;
        }

        Field(name);
        Ensure(32);
        if (!value.TryFormat(_buffer.AsSpan(_length), out var written, "r", CultureInfo.InvariantCulture))
        {
            return false;
        }

        _length += written;
        return true;
    }

    private void TimestampField(string name, Timestamp? value)
    {
        if (value is null)
        {
            return;
        }

        // The formatter refuses timestamps outside years 1 to 9999 and nanoseconds outside 0..999,999,999.
        if (value.Seconds < -62_135_596_800 || value.Seconds > 253_402_300_799 || value.Nanos < 0 || value.Nanos > 999_999_999)
        {
            _valid = false;
            return;
        }

        Field(name);

        // What the formatter writes for a Timestamp: seconds as yyyy-MM-ddTHH:mm:ss, then the
        // nanoseconds as 3, 6 or 9 digits (none when 0), then Z.
        var time = DateTime.UnixEpoch.AddTicks(value.Seconds * TimeSpan.TicksPerSecond);
        Ensure(40);
        var span = _buffer.AsSpan(_length);
        span[0] = (byte)'"';
        time.TryFormat(span[1..], out var written, "yyyy'-'MM'-'dd'T'HH':'mm':'ss", CultureInfo.InvariantCulture);
        var at = 1 + written;
        var nanos = value.Nanos;
        if (nanos != 0)
        {
            span[at++] = (byte)'.';
            var (digits, scaled) = nanos % 1_000_000 == 0 ? (3, nanos / 1_000_000) : nanos % 1000 == 0 ? (6, nanos / 1000) : (9, nanos);
            for (var i = digits - 1; i >= 0; i--)
            {
                span[at + i] = (byte)('0' + (scaled % 10));
                scaled /= 10;
            }

            at += digits;
        }

        span[at++] = (byte)'Z';
        span[at++] = (byte)'"';
        _length += at;
    }

    private bool QuotedString(string value)
    {
        Ensure(value.Length + 2);
        var span = _buffer.AsSpan(_length);
        span[0] = (byte)'"';
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c < 0x20 || c > 0x7e || c is '"' or '\\' or '<' or '>')
            {
                return false;
            }

            span[i + 1] = (byte)c;
        }

        span[value.Length + 1] = (byte)'"';
        _length += value.Length + 2;
        return true;
    }

    private void Int(long value)
    {
        Ensure(24);
        value.TryFormat(_buffer.AsSpan(_length), out var written, default, CultureInfo.InvariantCulture);
        _length += written;
    }

    private void Ascii(string text)
    {
        Ensure(text.Length);
        var span = _buffer.AsSpan(_length);
        for (var i = 0; i < text.Length; i++)
        {
            span[i] = (byte)text[i];
        }

        _length += text.Length;
    }

    private void Raw(byte[] bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
        _first = false;
    }

    private void Ensure(int more)
    {
        if (_length + more > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
        }
    }

    private static string[] EnumNames(EnumDescriptor descriptor)
    {
        var names = new string[descriptor.Values.Max(v => v.Number) + 1];
        foreach (var value in descriptor.Values)
        {
            names[value.Number] = value.Name;
        }

        return names;
    }
}
