using System.ComponentModel;
using System.Diagnostics;
using Orchestrator.NodeAgent.Runtime;

namespace Orchestrator.NodeAgent.Health;

/// <summary>
/// Runs a probe's command in a replica's context and returns its exit code. Implemented for host
/// processes (<see cref="HostProcessProbeExec"/>) and by <c>DockerRuntime</c> (an exec inside the
/// container, through the daemon).
/// </summary>
public interface IProbeExec
{
    /// <summary>
    /// Runs <paramref name="command"/> for <paramref name="replica"/>. Throws
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled
    /// (the probe's timeout), after ending the command; <see cref="ProbeExecException"/> when it cannot run.
    /// </summary>
    Task<int> ExecAsync(ReplicaLaunch replica, IReadOnlyList<string> command, CancellationToken cancellationToken);
}

/// <summary>
/// Exec for host-process replicas: runs the command on the host with the replica's environment
/// (<c>PORT</c>, <c>PORT_&lt;NAME&gt;</c>, <c>ORC_*</c> and the template's variables), with
/// <c>${VAR}</c> expanded as in the replica's own command. Output is discarded.
/// </summary>
public sealed class HostProcessProbeExec : IProbeExec
{
    public async Task<int> ExecAsync(ReplicaLaunch replica, IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replica);
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0)
        {
            throw new ArgumentException("exec probe has an empty command", nameof(command));
        }

        var environment = ReplicaEnvironment.Build(replica, PortView.HostPort);
        var expanded = ReplicaEnvironment.Expand(command, environment);
        var info = new ProcessStartInfo(expanded[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in expanded.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            // The kubelet reports a missing program as a failed probe, not as an agent error.
            throw new ProbeExecException($"cannot run \"{expanded[0]}\": {ex.Message}", ex);
        }

        process.StandardInput.Close();

        // Output is read only so a chatty command cannot fill the pipe and stall. Its end is not
        // awaited: a child the command leaves in the background (sh -c "server & exit 0") inherits
        // the pipes and may hold them open long after the command exited, which is all a probe asks.
        _ = DiscardAsync(process.StandardOutput);
        _ = DiscardAsync(process.StandardError);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended on its own meanwhile.
            }

            throw;
        }

        return process.ExitCode;
    }

    private static async Task DiscardAsync(StreamReader output)
    {
        try
        {
            await output.BaseStream.CopyToAsync(Stream.Null);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The pipe went away with the process; there was nothing to keep.
        }
    }
}

/// <summary>The probe's command could not be run at all (missing program, no exec support for the driver).</summary>
public sealed class ProbeExecException : Exception
{
    public ProbeExecException()
    {
    }

    public ProbeExecException(string message) : base(message)
    {
    }

    public ProbeExecException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>Runs an exec probe through an <see cref="IProbeExec"/>; success is exit code 0.</summary>
public sealed class ExecProbeCheck : IProbeCheck
{
    private readonly IProbeExec _exec;
    private readonly ReplicaLaunch _replica;
    private readonly IReadOnlyList<string> _command;

    public ExecProbeCheck(IProbeExec exec, ReplicaLaunch replica, IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        _exec = exec;
        _replica = replica;
        _command = command;
        Description = $"exec [{string.Join(' ', command)}]";
    }

    public string Description { get; }

    public async Task<ProbeResult> CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            var code = await _exec.ExecAsync(_replica, _command, cancellationToken);
            return code == 0 ? ProbeResult.Passed : ProbeResult.Failed($"exit code {code}");
        }
        catch (ProbeExecException ex)
        {
            return ProbeResult.Failed(ex.Message);
        }
    }
}

/// <summary>A check that always fails with a fixed reason: a probe the agent cannot run as written.</summary>
public sealed class FailingProbeCheck(string description, string detail) : IProbeCheck
{
    public string Description { get; } = description;

    public Task<ProbeResult> CheckAsync(CancellationToken cancellationToken) => Task.FromResult(ProbeResult.Failed(detail));
}
