using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Orchestrator.ControlPlane.Scheduling.Filters;
using Orchestrator.ControlPlane.Scheduling.Scorers;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Scheduling;

/// <summary>
/// A placement: the node chosen (null when none fits), the host port allocated per declared
/// port name, and the summary stored in the replica's status to explain it
/// (docs/adr/0009-placement-explanations.md).
/// </summary>
public sealed record PlacementDecision(string? Node, IReadOnlyDictionary<string, int> HostPorts, PlacementExplanation Explanation)
{
    public bool Placed => Node is not null;
}

/// <summary>One node's line in a full explanation: the first rule it failed with the numbers, or its score breakdown.</summary>
public sealed record NodeVerdict(string Node, string? Rule, string Detail, NodeScore? Score)
{
    public bool Fits => Rule is null;
}

/// <summary>
/// Places one replica: runs the enabled filters over every node (a node's verdict is the first
/// filter it fails), scores the nodes that pass with the weighted scorers, and takes the
/// highest total, ties broken by <see cref="SchedulerOptions.TieBreak"/>. It only reads the
/// snapshot; the placement loop applies the binding. <see cref="Explain"/> gives the same
/// decision with every node's verdict in words, for <c>orc explain</c>.
/// </summary>
public sealed class Scheduler
{
    private static readonly IReadOnlyDictionary<string, int> NoPorts = new Dictionary<string, int>();
    private readonly IFilter[] _filters;
    private readonly (IScorer Scorer, double Weight)[] _scorers;
    private readonly SchedulerOptions _options;

    public Scheduler(IEnumerable<IFilter> filters, IEnumerable<IScorer> scorers, SchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(filters);
        ArgumentNullException.ThrowIfNull(scorers);
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        var knownFilters = filters.ToDictionary(f => f.Name, StringComparer.Ordinal);
        var knownScorers = scorers.ToDictionary(s => s.Name, StringComparer.Ordinal);
        _filters = [.. options.Filters.Select(name => knownFilters.TryGetValue(name, out var f) ? f
            : throw new ArgumentException($"scheduler filter \"{name}\" is not known; the filters are {string.Join(", ", knownFilters.Keys.Order(StringComparer.Ordinal))}", nameof(options)))];
        if (!options.Filters.Contains("host-ports"))
        {
            // Place hands out a host port per declared port from the chosen node's range; only this filter makes sure one is left.
            throw new ArgumentException("scheduler filter \"host-ports\" cannot be left out: every declared port needs a free host port of the node's range", nameof(options));
        }

        _scorers = [.. options.Scorers
            .Select(p => knownScorers.TryGetValue(p.Key, out var s) ? (s, p.Value)
                : throw new ArgumentException($"scheduler scorer \"{p.Key}\" is not known; the scorers are {string.Join(", ", knownScorers.Keys.Order(StringComparer.Ordinal))}", nameof(options)))
            .Where(p => p.Value > 0)
            .OrderBy(p => p.s.Name, StringComparer.Ordinal)];
        foreach (var (name, weight) in options.Scorers)
        {
            if (weight < 0 || double.IsNaN(weight) || double.IsInfinity(weight))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"scheduler scorer \"{name}\" has weight {weight}; weights are 0 (off) or positive"), nameof(options));
            }
        }
    }

    /// <summary>A scheduler with every built-in filter and scorer, enabled and weighted by <paramref name="options"/> (the defaults when null).</summary>
    public static Scheduler CreateDefault(SchedulerOptions? options = null) =>
        new(BuiltInFilters(), BuiltInScorers(), options ?? new SchedulerOptions());

    public static IReadOnlyList<IFilter> BuiltInFilters() =>
        [new NodeReadyFilter(), new DriverFilter(), new ResourceFitFilter(), new HostPortFilter(), new ConstraintFilter(), new MaxPerNodeFilter()];

    public static IReadOnlyList<IScorer> BuiltInScorers() =>
        [new LeastAllocatedScorer(), new MostAllocatedScorer(), new BalancedAllocationScorer(), new ReplicaSpreadScorer(), new TopologySpreadScorer()];

    public SchedulerOptions Options => _options;

    /// <summary>Chooses a node for <paramref name="request"/> among every node, and explains the choice in a summary.</summary>
    public PlacementDecision Place(PlacementRequest request, ClusterSnapshot snapshot, DateTimeOffset now) =>
        PlaceCore(request, snapshot, now, start: 0, enough: int.MaxValue, out _);

    /// <summary>
    /// Chooses a node the way the placement loop does in a big cluster: checks nodes from
    /// <paramref name="start"/> on, wrapping around, until <see cref="FeasibleNodesToFind"/> fit
    /// (or every node was checked); <paramref name="checkedNodes"/> says how many it checked, so
    /// the next decision can start after them.
    /// </summary>
    public PlacementDecision PlaceFrom(PlacementRequest request, ClusterSnapshot snapshot, DateTimeOffset now, int start, out int checkedNodes) =>
        PlaceCore(request, snapshot, now, start, FeasibleNodesToFind(snapshot.Nodes.Count), out checkedNodes);

    /// <summary>How many fitting nodes are enough in a cluster of <paramref name="nodes"/> (see <see cref="SchedulerOptions.PercentageOfNodesToScore"/>).</summary>
    public int FeasibleNodesToFind(int nodes)
    {
        const int MinFeasible = 100;
        var percentage = _options.PercentageOfNodesToScore;
        if (nodes <= MinFeasible || percentage >= 100)
        {
            return int.MaxValue;
        }

        if (percentage <= 0)
        {
            percentage = Math.Max(5, 50 - (nodes / 125));
        }

        return Math.Max(MinFeasible, (int)((long)nodes * percentage / 100));
    }

    private PlacementDecision PlaceCore(PlacementRequest request, ClusterSnapshot snapshot, DateTimeOffset now, int start, int enough, out int checkedNodes)
    {
        var context = new PlacementContext(request, snapshot);
        var scorers = ApplicableScorers(request);
        var weights = scorers.Sum(s => s.Weight);
        var rejected = new Dictionary<string, int>(StringComparer.Ordinal);
        var top = new Candidates(1 + Math.Max(0, _options.Alternatives), this, request);
        var nodes = snapshot.Nodes;
        var feasible = 0;
        var count = nodes.Count;
        start = count == 0 ? 0 : ((start % count) + count) % count;
        checkedNodes = 0;
        for (var k = 0; k < count && feasible < enough; k++)
        {
            var node = nodes[(start + k) % count];
            checkedNodes++;
            var rule = FirstFailure(context, node);
            if (rule is not null)
            {
                ref var rejections = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(rejected, rule, out _);
                rejections++;
                continue;
            }

            feasible++;
            var total = 0.0;
            foreach (var (scorer, weight) in scorers)
            {
                total += weight * scorer.Score(context, node);
            }

            top.Offer(node, weights > 0 ? total / weights : 0);
        }

        var explanation = new PlacementExplanation
        {
            DecidedAt = Timestamp.FromDateTimeOffset(now),
            NodesTotal = nodes.Count,
            NodesFeasible = feasible,
            NodesEvaluated = checkedNodes,
        };
        var counts = rejected.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).ToList();
        explanation.Rejected.AddRange(counts.Select(p => new RuleCount { Rule = p.Key, Nodes = p.Value }));
        if (top.Count == 0)
        {
            explanation.Message = nodes.Count == 0
                ? "0/0 nodes fit: no node has registered"
                : $"0/{nodes.Count} nodes fit: " + string.Join(", ", counts.Select(p => $"{p.Value} {p.Key}"));
            return new PlacementDecision(null, NoPorts, explanation);
        }

        var chosen = top[0];
        explanation.Chosen = Breakdown(context, scorers, chosen);
        for (var i = 1; i < top.Count; i++)
        {
            explanation.Alternatives.Add(Breakdown(context, scorers, top[i]));
        }

        var ports = chosen.AllocatePorts(request.PortNames) ?? throw new InvalidOperationException($"node {chosen.Name} passed the host-port filter but has no free port");
        explanation.Message = Message(request, chosen, explanation, counts);
        return new PlacementDecision(chosen.Name, ports, explanation);
    }

    /// <summary>
    /// The same decision as <see cref="Place"/> with every node's verdict in words: the first
    /// rule it failed with numbers, or its score breakdown.
    /// </summary>
    public (PlacementDecision Decision, IReadOnlyList<NodeVerdict> Nodes) Explain(PlacementRequest request, ClusterSnapshot snapshot, DateTimeOffset now)
    {
        var decision = Place(request, snapshot, now);
        var context = new PlacementContext(request, snapshot);
        var scorers = ApplicableScorers(request);
        var verdicts = new List<NodeVerdict>(snapshot.Nodes.Count);
        foreach (var node in snapshot.Nodes)
        {
            var failed = _filters.FirstOrDefault(f => f.Filter(context, node) is not null);
            if (failed is not null)
            {
                verdicts.Add(new NodeVerdict(node.Name, failed.Filter(context, node), failed.Describe(context, node), null));
                continue;
            }

            var score = Breakdown(context, scorers, node);
            var detail = string.Join("; ", scorers.Select(s => $"{s.Scorer.Name} {Format(s.Scorer.Score(context, node))}: {s.Scorer.Describe(context, node, s.Scorer.Score(context, node))}"));
            verdicts.Add(new NodeVerdict(node.Name, null, detail, score));
        }

        return (decision, verdicts);
    }

    private string? FirstFailure(PlacementContext context, SchedulingNode node)
    {
        foreach (var filter in _filters)
        {
            if (filter.Filter(context, node) is { } rule)
            {
                return rule;
            }
        }

        return null;
    }

    private (IScorer Scorer, double Weight)[] ApplicableScorers(PlacementRequest request) =>
        [.. _scorers.Where(s => s.Scorer.AppliesTo(request))];

    private static NodeScore Breakdown(PlacementContext context, (IScorer Scorer, double Weight)[] scorers, SchedulingNode node)
    {
        var weights = scorers.Sum(s => s.Weight);
        var result = new NodeScore { Node = node.Name };
        var total = 0.0;
        foreach (var (scorer, weight) in scorers)
        {
            var score = scorer.Score(context, node);
            total += weight * score;
            result.Terms.Add(new ScoreTerm { Scorer = scorer.Name, Score = Math.Round(score, 2), Weight = weight });
        }

        result.Total = weights > 0 ? Math.Round(total / weights, 2) : 0;
        return result;
    }

    private static string Message(PlacementRequest request, SchedulingNode chosen, PlacementExplanation explanation, List<KeyValuePair<string, int>> rejected)
    {
        var score = explanation.Chosen;
        var weights = 0.0;
        foreach (var term in score.Terms)
        {
            weights += term.Weight;
        }

        var terms = score.Terms
            .Select(t => (t.Scorer, Share: weights > 0 ? t.Score * t.Weight / weights : 0))
            .OrderByDescending(t => t.Share)
            .Select(t => $"{t.Scorer} {Format(t.Share)}")
            .DefaultIfEmpty("no scorer applies");

        // A decision that stopped checking once enough nodes fit says how many it checked.
        var fit = explanation.NodesEvaluated >= explanation.NodesTotal
            ? string.Create(CultureInfo.InvariantCulture, $"{explanation.NodesFeasible} of {explanation.NodesTotal} nodes fit")
            : string.Create(CultureInfo.InvariantCulture, $"{explanation.NodesFeasible} of {explanation.NodesEvaluated} nodes checked fit ({explanation.NodesTotal} in all; enough fit to stop checking)");
        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"Scheduled on {chosen.Name}: {fit}; scored {Format(score.Total)} ({string.Join(", ", terms)}); {Quantity.FormatCpu(chosen.CpuFree - request.CpuMillis)} cpu, {Quantity.FormatMemoryRounded(chosen.MemoryFree - request.MemoryBytes)} memory free after placing");
        return rejected.Count == 0 ? text : text + "; rejected " + string.Join(", ", rejected.Select(p => $"{p.Value} {p.Key}"));
    }

    internal static string Format(double value) => Math.Round(value, 1).ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>True when <paramref name="a"/> with <paramref name="aTotal"/> beats <paramref name="b"/> with <paramref name="bTotal"/>.</summary>
    private bool Beats(SchedulingNode a, double aTotal, SchedulingNode b, double bTotal, string replica)
    {
        var x = Math.Round(aTotal, 6);
        var y = Math.Round(bTotal, 6);
        if (x != y)
        {
            return x > y;
        }

        if (_options.TieBreak == TieBreak.Random)
        {
            var ha = TieHash(_options.Seed, replica, a.Name);
            var hb = TieHash(_options.Seed, replica, b.Name);
            if (ha != hb)
            {
                return ha < hb;
            }
        }

        return string.CompareOrdinal(a.Name, b.Name) < 0;
    }

    /// <summary>FNV-1a over seed, replica and node: the same on every run and every machine.</summary>
    private static ulong TieHash(int seed, string replica, string node)
    {
        var hash = 14695981039346656037UL ^ (uint)seed;
        foreach (var c in replica)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        hash = (hash ^ '/') * 1099511628211UL;
        foreach (var c in node)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>The best few nodes seen so far, best first.</summary>
    private sealed class Candidates(int capacity, Scheduler scheduler, PlacementRequest request)
    {
        private readonly SchedulingNode[] _nodes = new SchedulingNode[capacity];
        private readonly double[] _totals = new double[capacity];

        public int Count { get; private set; }

        public SchedulingNode this[int index] => _nodes[index];

        public void Offer(SchedulingNode node, double total)
        {
            if (Count == capacity && !scheduler.Beats(node, total, _nodes[Count - 1], _totals[Count - 1], request.ReplicaId))
            {
                return;
            }

            var i = Math.Min(Count, capacity - 1);
            while (i > 0 && scheduler.Beats(node, total, _nodes[i - 1], _totals[i - 1], request.ReplicaId))
            {
                _nodes[i] = _nodes[i - 1];
                _totals[i] = _totals[i - 1];
                i--;
            }

            _nodes[i] = node;
            _totals[i] = total;
            Count = Math.Min(Count + 1, capacity);
        }
    }
}
