using System.Globalization;
using System.Text;

namespace Orchestrator.NodeAgent.Runtime;

/// <summary>Which port a replica listens on: the host port, or the container port behind a mapping (ADR 0007).</summary>
public enum PortView
{
    /// <summary>Processes and host-network containers listen on the allocated host port.</summary>
    HostPort,

    /// <summary>Containers with a port mapping listen on the container port; Docker maps the host port to it.</summary>
    ContainerPort,
}

/// <summary>
/// The environment every replica gets (ADR 0007) and the <c>${VAR}</c> expansion of its command
/// and arguments. Pure functions, shared by every runtime so both drivers agree.
/// </summary>
public static class ReplicaEnvironment
{
    /// <summary>
    /// The discovery variables of known services (<see cref="ReplicaLaunch.ServiceEnvironment"/>),
    /// then the template's variables, which win over those, then the standard ones, which win over
    /// both: <c>PORT</c> (first port), <c>PORT_&lt;NAME&gt;</c>, <c>ORC_REPLICA_ID</c>,
    /// <c>ORC_NODE</c>, <c>ORC_SERVICE</c> or <c>ORC_JOB</c>, <c>ORC_REVISION</c>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Build(ReplicaLaunch launch, PortView view)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var env = new Dictionary<string, string>(launch.ServiceEnvironment, StringComparer.Ordinal);
        foreach (var (name, value) in launch.Environment)
        {
            env[name] = value;
        }

        for (var i = 0; i < launch.Ports.Count; i++)
        {
            var port = launch.Ports[i];
            var value = (view == PortView.HostPort ? port.HostPort : port.ContainerPort).ToString(CultureInfo.InvariantCulture);
            if (i == 0)
            {
                env["PORT"] = value;
            }

            if (!string.IsNullOrEmpty(port.Name))
            {
                env[PortVariable(port.Name)] = value;
            }
        }

        env["ORC_REPLICA_ID"] = launch.ReplicaId;
        env["ORC_NODE"] = launch.NodeName;
        if (string.Equals(launch.OwnerKind, "job", StringComparison.OrdinalIgnoreCase))
        {
            env["ORC_JOB"] = launch.OwnerName;
        }
        else if (!string.IsNullOrEmpty(launch.OwnerName))
        {
            env["ORC_SERVICE"] = launch.OwnerName;
        }

        env["ORC_REVISION"] = launch.Revision.ToString(CultureInfo.InvariantCulture);
        return env;
    }

    /// <summary><c>PORT_&lt;NAME&gt;</c> for a port name: upper-cased, <c>-</c> becomes <c>_</c> (<c>admin-http</c> → <c>PORT_ADMIN_HTTP</c>).</summary>
    public static string PortVariable(string portName)
    {
        ArgumentNullException.ThrowIfNull(portName);
        return "PORT_" + portName.ToUpperInvariant().Replace('-', '_');
    }

    /// <summary>
    /// Replaces <c>${VAR}</c> with the variable's value. A variable that is not set stays as written
    /// (as Kubernetes does), so the mistake shows in the replica's command line; <c>$${VAR}</c>
    /// is the escape for a literal <c>${VAR}</c>. A lone <c>$</c> is left alone.
    /// </summary>
    public static string Expand(string text, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(environment);
        if (!text.Contains('$', StringComparison.Ordinal))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '$' && i + 2 < text.Length && text[i + 1] == '$' && text[i + 2] == '{')
            {
                // "$${" is the escape: drop one '$' and copy the reference through untouched.
                var close = text.IndexOf('}', i + 3);
                var end = close < 0 ? text.Length : close + 1;
                result.Append(text, i + 1, end - (i + 1));
                i = end;
                continue;
            }

            if (c == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                var close = text.IndexOf('}', i + 2);
                if (close > i + 2)
                {
                    var name = text[(i + 2)..close];
                    if (environment.TryGetValue(name, out var value))
                    {
                        result.Append(value);
                    }
                    else
                    {
                        result.Append(text, i, close + 1 - i);
                    }

                    i = close + 1;
                    continue;
                }
            }

            result.Append(c);
            i++;
        }

        return result.ToString();
    }

    /// <summary>Expands every element (see <see cref="Expand(string, IReadOnlyDictionary{string, string})"/>).</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> items, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(items);
        return [.. items.Select(item => Expand(item, environment))];
    }
}
