using System.CommandLine;
using System.Globalization;
using System.Reflection;
using Orchestrator.Cli.Client;
using Orchestrator.V1;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orc version</c>: the client's version, and the server's when it answers (an unreachable server is not an error here).</summary>
public static class VersionCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("version", "Show the client and server versions");
        command.SetAction(async (parse, ct) =>
        {
            await context.IO.Out.WriteLineAsync($"Client: orc {ClientVersion}");
            using var connection = context.Connect(parse);
            VersionResponse server;
            try
            {
                server = await connection.Client.VersionAsync(new VersionRequest(), connection.Unary(ct));
            }
            catch (Exception e) when (RpcErrors.IsUnreachable(e))
            {
                await context.IO.Out.WriteLineAsync(
                    $"Server: unreachable at {ServerAddress.Display(connection.Server)} ({RpcErrors.Cause(e)})");
                return ExitCodes.Success;
            }

            await context.IO.Out.WriteLineAsync(FormatServer(server, connection.Server));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The version of this assembly, without the source revision suffix.</summary>
    public static string ClientVersion
    {
        get
        {
            var informational = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            return informational?.Split('+')[0] ?? "unknown";
        }
    }

    public static string FormatServer(VersionResponse server, Uri address)
    {
        var version = server.Version.Length > 0 ? server.Version : "unknown";
        var commit = server.Commit.Length > 0 ? $" (commit {server.Commit})" : "";
        var lines = new List<string>
        {
            $"Server: {version}{commit} at {ServerAddress.Display(address)}",
            $"  Store: {(server.Store.Length > 0 ? server.Store : "unknown")}, revision {server.StoreRevision.ToString(CultureInfo.InvariantCulture)}",
        };
        if (server.MemberId.Length > 0)
        {
            lines.Add($"  Member: {server.MemberId}{(server.Leader ? " (leader)" : " (follower)")}");
        }

        if (server.LeaderId.Length > 0)
        {
            var since = server.LeaderSince is { } at ? $" since {at.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z" : "";
            lines.Add($"  Leader: {server.LeaderId} at {server.LeaderAddress}{since}, term revision {server.LeaderTermRevision.ToString(CultureInfo.InvariantCulture)}");
        }
        else if (server.MemberId.Length > 0 && !server.Leader)
        {
            lines.Add("  Leader: none right now (an election is under way, or no control plane campaigns)");
        }

        return string.Join(Environment.NewLine, lines);
    }
}
