using System.Globalization;
using Orchestrator.NodeAgent.Hosting;

namespace Orchestrator.NodeAgent.Simulation;

/// <summary>What a <see cref="SimulatedFleet"/> starts: how many nodes, where they register, what each offers.</summary>
public sealed record SimulatedFleetOptions
{
    /// <summary>The most nodes one fleet starts: names and loopback addresses are laid out for at most this many.</summary>
    public const int MaxNodes = 10_000;

    /// <summary>The label every simulated node carries, so a person (or a constraint) can tell them from real ones.</summary>
    public const string SimulatedLabel = "orc.io/simulated";

    /// <summary>How many nodes to start (1 to <see cref="MaxNodes"/>).</summary>
    public int Nodes { get; init; } = 100;

    /// <summary>Control planes every node connects to, tried in turn.</summary>
    public IReadOnlyList<Uri> Servers { get; init; } = [new Uri(NodeAgentOptions.DefaultServer)];

    /// <summary>Node names are this prefix and a zero-padded number: <c>sim-0001</c>, <c>sim-0002</c>, ...</summary>
    public string NamePrefix { get; init; } = "sim";

    /// <summary>Allocatable (and capacity) cpu of every node, in millicores.</summary>
    public long CpuMillis { get; init; } = 4000;

    /// <summary>Allocatable (and capacity) memory of every node, in bytes.</summary>
    public long MemoryBytes { get; init; } = 16L << 30;

    /// <summary>Host ports of every node (each node has its own address, so the ranges may be the same).</summary>
    public int FirstPort { get; init; } = NodeAgentOptions.DefaultFirstPort;

    public int LastPort { get; init; } = NodeAgentOptions.DefaultLastPort;

    /// <summary>
    /// Values of the <c>zone</c> label, given to the nodes round-robin (<c>a</c>, <c>b</c>, <c>c</c>, <c>a</c>, ...),
    /// so zone constraints and spread can be shown; empty gives no zone label.
    /// </summary>
    public IReadOnlyList<string> Zones { get; init; } = [];

    /// <summary>Further labels on every node.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Heartbeat interval until the control plane says otherwise.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Join token sent with every registration.</summary>
    public string Token { get; init; } = "";

    /// <summary>The problems with these options, each saying how to fix it; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Nodes is < 1 or > MaxNodes)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"nodes: {Nodes} is out of range; give a number from 1 to {MaxNodes}"));
        }

        if (Servers.Count == 0)
        {
            problems.Add("servers: no control plane address; give at least one, for example http://127.0.0.1:7070");
        }

        if (string.IsNullOrEmpty(NamePrefix) || NamePrefix.Length > 40
            || !NamePrefix.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') || NamePrefix[0] == '-')
        {
            problems.Add($"name prefix \"{NamePrefix}\" is not usable in a node name; use at most 40 lower-case letters, digits and '-', starting with a letter or digit");
        }

        if (CpuMillis <= 0)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"cpu: {CpuMillis}m; it must be more than 0, for example 4000m"));
        }

        if (MemoryBytes <= 0)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"memory: {MemoryBytes} bytes; it must be more than 0, for example 16Gi"));
        }

        if (FirstPort < 1 || LastPort > 65535 || FirstPort > LastPort)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"ports: {FirstPort}-{LastPort} is not a port range; use FIRST-LAST between 1 and 65535"));
        }

        if (Zones.Any(string.IsNullOrWhiteSpace))
        {
            problems.Add("zones: a zone name is empty; give names such as a, b, c");
        }

        return problems;
    }

    /// <summary>The name of node <paramref name="index"/> (from 1): <c>sim-0007</c>.</summary>
    public string NodeName(int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{NamePrefix}-{index.ToString(Nodes >= 10_000 ? "D5" : "D4", CultureInfo.InvariantCulture)}");

    /// <summary>
    /// The address of node <paramref name="index"/> (from 1): <c>127.1.X.Y</c>, a loopback address
    /// of its own, apart from <c>orc dev</c>'s real nodes on <c>127.0.0.x</c>. Nothing listens on it.
    /// </summary>
    public static string NodeAddress(int index) =>
        string.Create(CultureInfo.InvariantCulture, $"127.1.{index / 256}.{index % 256}");
}
