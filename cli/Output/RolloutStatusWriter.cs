using System.Globalization;
using Orchestrator.V1;

namespace Orchestrator.Cli.Output;

/// <summary>
/// What <c>orc rollout status</c> prints for each state of a service: on a terminal one line
/// redrawn in place with a progress bar, otherwise a plain line whenever the progress changes.
/// A status older than the spec (the controller has not seen the latest change yet) is waited on.
/// </summary>
public sealed class RolloutStatusWriter(IConsoleIO io, string target)
{
    private const int BarWidth = 20;
    private string? _lastLine;
    private bool _lineOpen;

    /// <summary>The last progress line shown (for a timeout message).</summary>
    public string Last => _lastLine ?? "no status from the controller yet";

    /// <summary>Shows the service's rollout; returns the exit code once it is decided, null while it goes on.</summary>
    public async Task<int?> ShowAsync(Service service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        var status = service.Status;
        var generation = service.Meta?.Generation ?? 0;
        if (status is null || status.ObservedGeneration < generation)
        {
            await ProgressAsync($"Waiting for the controller to act on generation {generation} of {target}", null, cancellationToken);
            return null;
        }

        var desired = service.Spec?.Replicas ?? 0;
        switch (status.Rollout)
        {
            case RolloutState.Complete:
                await EndLineAsync();
                await io.Out.WriteLineAsync($"{target} rolled out: revision {status.CurrentRevision}, {status.AvailableReplicas} of {desired} available");
                return ExitCodes.Success;
            case RolloutState.RolledBack:
            case RolloutState.Failed:
                await EndLineAsync();
                throw new CommandException($"rollout of {target} {(status.Rollout == RolloutState.RolledBack ? "rolled back" : "failed")}: {status.Message}" + (status.Reason.Length > 0 ? $" [{status.Reason}]" : ""));
            case RolloutState.Paused:
                await EndLineAsync();
                throw new CommandException($"rollout of {target} is paused ({status.UpdatedReplicas} of {desired} updated); orc rollout resume {service.Meta?.Name} lets it go on");
        }

        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"Waiting for the rollout of {target} to revision {status.CurrentRevision}: {status.UpdatedReplicas} of {desired} updated, {status.AvailableReplicas} available");
        var old = status.Replicas - status.UpdatedReplicas;
        if (old > 0)
        {
            text += $", {old} old";
        }

        await ProgressAsync(text, desired == 0 ? 1 : Math.Min(1.0, (double)Math.Min(status.UpdatedReplicas, status.AvailableReplicas) / desired), cancellationToken);
        return null;
    }

    private async Task ProgressAsync(string text, double? fraction, CancellationToken cancellationToken)
    {
        if (text == _lastLine)
        {
            return;
        }

        _lastLine = text;
        if (!io.IsTerminal)
        {
            await io.Out.WriteLineAsync(text);
            await io.Out.FlushAsync(cancellationToken);
            return;
        }

        var filled = (int)Math.Round((fraction ?? 0) * BarWidth);
        var bar = fraction is null ? "" : "[" + new string('#', filled) + new string('.', BarWidth - filled) + "] ";
        var line = bar + text;
        if (line.Length > io.Width - 1 && io.Width > 10)
        {
            line = line[..(io.Width - 2)] + "…";
        }

        // \r and erase-to-end-of-line redraw the same line.
        await io.Out.WriteAsync("\r" + line + "\u001b[K");
        await io.Out.FlushAsync(cancellationToken);
        _lineOpen = true;
    }

    /// <summary>Ends the redrawn line, so what follows starts on a line of its own.</summary>
    public async Task EndLineAsync()
    {
        if (_lineOpen)
        {
            await io.Out.WriteLineAsync();
            _lineOpen = false;
        }
    }
}
