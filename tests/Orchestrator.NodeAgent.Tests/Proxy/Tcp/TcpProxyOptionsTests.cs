using Orchestrator.NodeAgent.Proxy.Tcp;

namespace Orchestrator.NodeAgent.Tests.Proxy.Tcp;

public sealed class TcpProxyOptionsTests
{
    [Fact]
    public void The_defaults_are_valid()
    {
        var options = new TcpProxyOptions();

        Assert.Empty(options.Validate());
        Assert.Equal(TimeSpan.FromSeconds(5), options.SetAsideBase);
        Assert.Equal(TimeSpan.FromSeconds(30), options.SetAsideMax);
    }

    [Fact]
    public void Every_problem_is_listed_with_its_fix()
    {
        var options = new TcpProxyOptions
        {
            ConnectTimeout = TimeSpan.Zero,
            SetAsideBase = TimeSpan.FromSeconds(10),
            SetAsideMax = TimeSpan.FromSeconds(5),
            ShutdownGracePeriod = TimeSpan.FromSeconds(-1),
            BufferSize = 100,
            Backlog = 0,
        };

        var problems = options.Validate();

        Assert.Equal(5, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("ConnectTimeout", StringComparison.Ordinal) && p.Contains("positive", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("SetAsideMax", StringComparison.Ordinal) && p.Contains("at least as long", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ShutdownGracePeriod", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("BufferSize", StringComparison.Ordinal) && p.Contains("1024", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Backlog", StringComparison.Ordinal));
    }
}
