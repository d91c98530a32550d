using Orchestrator.NodeAgent.Runtime.Process;
using Orchestrator.TestSupport;

namespace Orchestrator.NodeAgent.Tests.Runtime.Process;

public sealed class LogRotatorTests
{
    [Fact]
    public void A_file_under_the_limit_is_left_alone()
    {
        using var dir = new TempDirectory();
        var log = dir.File("stdout.log");
        File.WriteAllText(log, "small\n");

        Assert.False(LogRotator.RotateIfLarger(log, maxBytes: 100, keep: 3));
        Assert.Equal("small\n", File.ReadAllText(log));
        Assert.False(File.Exists(log + ".1"));
    }

    [Fact]
    public void A_file_over_the_limit_is_copied_to_dot_1_and_truncated_and_older_files_shift()
    {
        using var dir = new TempDirectory();
        var log = dir.File("stdout.log");
        File.WriteAllText(log + ".1", "older\n");
        File.WriteAllText(log + ".2", "oldest\n");
        File.WriteAllText(log, new string('x', 200));

        Assert.True(LogRotator.RotateIfLarger(log, maxBytes: 100, keep: 2));

        Assert.Equal(0, new FileInfo(log).Length);
        Assert.Equal(new string('x', 200), File.ReadAllText(log + ".1"));
        Assert.Equal("older\n", File.ReadAllText(log + ".2"));
        Assert.False(File.Exists(log + ".3"));
    }

    [Fact]
    public async Task A_shell_that_appends_keeps_writing_to_the_truncated_file()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "O_APPEND semantics are checked with /bin/sh on Linux");
        using var dir = new TempDirectory();
        var log = dir.File("stdout.log");
        var go = dir.File("go");

        // The writer opens the log once with O_APPEND (as the replica wrapper does), writes 200 bytes,
        // waits for the rotation, then writes again through the same descriptor.
        var startInfo = new System.Diagnostics.ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { "-c", "exec >>\"$1\"; printf '%0200d' 0; while [ ! -f \"$2\" ]; do sleep 0.01; done; echo next", "sh", log, go },
        };
        using var writer = System.Diagnostics.Process.Start(startInfo)!;
        while (new FileInfo(log) is { Exists: false } or { Length: < 200 })
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, TestContext.Current.CancellationToken);
        }

        Assert.True(LogRotator.RotateIfLarger(log, maxBytes: 100, keep: 3));
        await File.WriteAllTextAsync(go, "", TestContext.Current.CancellationToken);
        await writer.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.Equal("next\n", await File.ReadAllTextAsync(log, TestContext.Current.CancellationToken));
        Assert.Equal(200, new FileInfo(log + ".1").Length);
    }
}
