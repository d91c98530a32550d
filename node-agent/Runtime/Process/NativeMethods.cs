using System.Runtime.InteropServices;

namespace Orchestrator.NodeAgent.Runtime.Process;

/// <summary>The one system call .NET does not expose: signalling a whole process group.</summary>
internal static partial class NativeMethods
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>ESRCH: no such process or process group.</summary>
    private const int NoSuchProcess = 3;

    /// <summary>
    /// Sends <paramref name="signal"/> to every process in the group <paramref name="processGroupId"/>.
    /// Returns false when the group no longer exists; throws on any other failure.
    /// </summary>
    public static bool SignalGroup(int processGroupId, int signal)
    {
        if (processGroupId <= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(processGroupId), processGroupId, "refusing to signal init or every process");
        }

        if (Kill(-processGroupId, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno == NoSuchProcess)
        {
            return false;
        }

        throw new InvalidOperationException($"kill(-{processGroupId}, {signal}) failed with errno {errno}");
    }

    /// <summary>
    /// Signals a replica's wrapper and everything it started. Call only after checking the pid's
    /// start time. Right after a start the wrapper may not have called setsid yet, so its group
    /// does not exist; then it has started nothing either, and signalling the pid alone is complete.
    /// </summary>
    public static bool SignalReplica(int pid, int signal)
    {
        if (SignalGroup(pid, signal))
        {
            return true;
        }

        if (Kill(pid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == NoSuchProcess
            ? false
            : throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {errno}");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
