using Orchestrator.NodeAgent.Runtime;
using Orchestrator.V1;

namespace Orchestrator.NodeAgent.Health;

/// <summary>Builds the check a spec's <see cref="Probe"/> asks for, against one replica's host ports.</summary>
public static class ProbeChecks
{
    /// <summary>
    /// The check for <paramref name="probe"/>: http and tcp go to <paramref name="address"/> and the host
    /// port allocated to the named port (http defaults to the first port); exec runs through
    /// <paramref name="exec"/>. A probe that names an unknown port, or an exec probe without an
    /// exec implementation for the driver, becomes a check that fails and says why.
    /// </summary>
    public static IProbeCheck Create(Probe probe, ReplicaLaunch replica, string address, HttpClient http, IProbeExec? exec)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(replica);
        switch (probe.CheckCase)
        {
            case Probe.CheckOneofCase.Http:
                {
                    var portName = string.IsNullOrEmpty(probe.Port) ? (replica.Ports.Count > 0 ? replica.Ports[0].Name : "") : probe.Port;
                    var description = $"http GET {probe.Http} on port {portName}";
                    return FindPort(replica, portName) is { } port
                        ? new HttpProbeCheck(http, address, port.HostPort, probe.Http, portName)
                        : new FailingProbeCheck(description, MissingPort(portName));
                }

            case Probe.CheckOneofCase.Tcp:
                {
                    var portName = probe.Tcp;
                    return FindPort(replica, portName) is { } port
                        ? new TcpProbeCheck(address, port.HostPort, portName)
                        : new FailingProbeCheck($"tcp connect on port {portName}", MissingPort(portName));
                }

            case Probe.CheckOneofCase.Exec:
                {
                    var command = probe.Exec.Command.ToList();
                    return exec is null
                        ? new FailingProbeCheck($"exec [{string.Join(' ', command)}]", "exec probes are not supported for this driver yet")
                        : new ExecProbeCheck(exec, replica, command);
                }

            case Probe.CheckOneofCase.None:
            default:
                return new FailingProbeCheck("probe", "the probe sets none of http, tcp or exec");
        }
    }

    private static ReplicaPort? FindPort(ReplicaLaunch replica, string name) =>
        replica.Ports.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));

    private static string MissingPort(string name) =>
        string.IsNullOrEmpty(name) ? "the replica declares no port to probe" : $"the replica declares no port named \"{name}\"";
}
