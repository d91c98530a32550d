using Orchestrator.NodeAgent.Runtime.Process;

namespace Orchestrator.NodeAgent.Tests.Runtime.Process;

public sealed class ProcStatTests
{
    [Fact]
    public void Fields_are_counted_from_the_last_parenthesis_so_odd_command_names_parse()
    {
        const string line = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 12345678 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

        var stat = ProcStat.Parse(line);

        Assert.Equal(new ProcStat(4242, 'S', 4242, 4242, 987654, 321), stat);
    }

    [Fact]
    public void A_zombie_is_recognised()
    {
        const string line = "7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0 0";

        Assert.True(ProcStat.Parse(line)!.Value.IsZombie);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("12 (sh) S 1 2")]
    public void A_malformed_line_gives_null(string line)
    {
        Assert.Null(ProcStat.Parse(line));
    }

    [Fact]
    public void The_current_process_reads_with_its_own_pid_and_a_start_time()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "/proc exists only on Linux");

        var stat = ProcStat.Read(System.Environment.ProcessId);

        Assert.NotNull(stat);
        Assert.Equal(System.Environment.ProcessId, stat.Value.Pid);
        Assert.True(stat.Value.StartTicks > 0);
    }
}
