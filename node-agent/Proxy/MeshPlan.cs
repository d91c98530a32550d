namespace Orchestrator.NodeAgent.Proxy;

/// <summary>
/// What changes between the routes in effect and the next ones, per published port: listeners to
/// open, to update in place (new endpoints or balancing, even another service on the same port and
/// protocol) and to close. A port whose protocol changes is closed and opened again. Ports in
/// neither list are not touched, which is what keeps one service's change from disturbing another's
/// connections.
/// </summary>
public sealed record MeshPlan(IReadOnlyList<MeshRoute> Open, IReadOnlyList<MeshRoute> Update, IReadOnlyList<MeshRoute> Close)
{
    public bool IsEmpty => Open.Count == 0 && Update.Count == 0 && Close.Count == 0;

    public static MeshPlan Diff(IReadOnlyDictionary<int, MeshRoute> current, IReadOnlyDictionary<int, MeshRoute> next)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(next);
        var open = new List<MeshRoute>();
        var update = new List<MeshRoute>();
        var close = new List<MeshRoute>();
        foreach (var (port, was) in current.OrderBy(p => p.Key))
        {
            if (!next.TryGetValue(port, out var now) || now.Protocol != was.Protocol)
            {
                close.Add(was);
            }
        }

        foreach (var (port, now) in next.OrderBy(p => p.Key))
        {
            if (!current.TryGetValue(port, out var was) || was.Protocol != now.Protocol)
            {
                open.Add(now);
            }
            else if (!was.SameAs(now))
            {
                update.Add(now);
            }
        }

        return new MeshPlan(open, update, close);
    }
}
