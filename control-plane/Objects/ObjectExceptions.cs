using Orchestrator.ControlPlane.Specs;

namespace Orchestrator.ControlPlane.Objects;

/// <summary>Base of the object layer's errors; each message says what is wrong and what to do.</summary>
public class ObjectException : Exception
{
    public ObjectException(string message) : base(message) { }

    public ObjectException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The named object does not exist, e.g. <c>service "web" not found</c>.</summary>
public sealed class ObjectNotFoundException : ObjectException
{
    public ObjectNotFoundException(string kind, string name)
        : base($"{kind} \"{name}\" not found")
    {
        Kind = kind;
        Name = name;
    }

    /// <param name="hint">What to do instead, appended after a semicolon (a "did you mean").</param>
    public ObjectNotFoundException(string kind, string name, string hint)
        : base($"{kind} \"{name}\" not found; {hint}")
    {
        Kind = kind;
        Name = name;
    }

    public string Kind { get; }

    public string Name { get; }
}

/// <summary>
/// A request that cannot be served as asked (bad name, bad kind, bad value). When one spec
/// document is the cause, <see cref="Document"/> names it, so the API can point at its file and line.
/// </summary>
public sealed class InvalidObjectRequestException(string message, SpecDocument? document = null) : ObjectException(message)
{
    public SpecDocument? Document { get; } = document;
}

/// <summary>The object exists but is in a state that forbids the request (a connected node cannot be deleted).</summary>
public sealed class ObjectStateException(string message) : ObjectException(message);

/// <summary>
/// A write lost its compare-and-swap race more times than it retries: other writers kept
/// changing the same objects. Nothing was written; the caller may simply try again.
/// </summary>
public sealed class ObjectConflictException(string message) : ObjectException(message);

/// <summary>A stored value could not be decoded as the object its key says it holds.</summary>
public sealed class InvalidStoredObjectException(string key, string type, Exception inner)
    : ObjectException($"the value stored at {key} is not a valid {type} ({inner.Message}); fix or delete the key with etcdctl", inner)
{
    public string Key { get; } = key;
}
