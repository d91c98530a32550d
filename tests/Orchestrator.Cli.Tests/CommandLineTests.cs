using Orchestrator.TestSupport;

namespace Orchestrator.Cli.Tests;

/// <summary>Whole command lines run in-process, against no server or a port nobody listens on.</summary>
public sealed class CommandLineTests
{
    private static string Nobody() => $"http://127.0.0.1:{FreePort.Next()}";

    [Fact]
    public async Task A_server_that_is_down_gives_one_line_and_exit_code_1()
    {
        var server = Nobody();
        var result = await Orc.RunAsync(["get", "services", "--server", server]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(
            $"error: cannot reach the control plane at {server} (connection refused). Start one with 'orc dev' or point --server/ORC_SERVER at a running one.\n",
            result.Stderr.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task The_server_address_comes_from_ORC_SERVER_when_no_flag_is_given()
    {
        var server = Nobody();
        var result = await Orc.RunAsync(["describe", "svc/web"], environment: new Dictionary<string, string> { ["ORC_SERVER"] = server });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"at {server} (connection refused)", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_server_flag_wins_over_ORC_SERVER()
    {
        var server = Nobody();
        var result = await Orc.RunAsync(["get", "nodes", "--server", server], environment: new Dictionary<string, string> { ["ORC_SERVER"] = "http://127.0.0.1:1" });

        Assert.Contains($"at {server} ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_without_a_server_prints_the_client_version_and_says_the_server_is_unreachable()
    {
        var server = Nobody();
        var result = await Orc.RunAsync(["version", "--server", server]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["Client: orc 0.1.0", $"Server: unreachable at {server} (connection refused)"], result.StdoutLines);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task An_unknown_kind_is_a_usage_error_with_a_suggestion()
    {
        var result = await Orc.RunAsync(["get", "servce", "--server", Nobody()]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: unknown kind \"servce\"; did you mean \"service\"?", result.StderrLines[0]);
        Assert.StartsWith("Known kinds: services (svc)", result.StderrLines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_command_suggests_the_closest_one()
    {
        var result = await Orc.RunAsync(["gte", "services"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: unknown command \"gte\"; did you mean \"get\"?", result.StderrLines[0]);
    }

    [Fact]
    public async Task An_unknown_flag_is_a_usage_error_pointing_at_help()
    {
        var result = await Orc.RunAsync(["get", "services", "--colour"]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: ", result.StderrLines[0], StringComparison.Ordinal);
        Assert.Contains("--colour", result.StderrLines[0], StringComparison.Ordinal);
        Assert.Equal("Run 'orc get --help' for usage.", result.StderrLines[^1]);
    }

    [Fact]
    public async Task An_unknown_output_format_names_the_ones_that_exist()
    {
        var result = await Orc.RunAsync(["get", "services", "-o", "xml"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: -o \"xml\" is not an output format; use table, json or yaml", result.StderrLines[0]);
    }

    [Fact]
    public async Task A_bad_timeout_is_a_usage_error()
    {
        var result = await Orc.RunAsync(["get", "services", "--timeout", "soon"]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: --timeout: \"soon\" is not a duration", result.StderrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_address_that_is_not_http_is_a_usage_error()
    {
        var result = await Orc.RunAsync(["get", "services", "--server", "ftp://example"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: --server \"ftp://example\" is not an http:// or https:// address", result.StderrLines[0]);
    }

    [Fact]
    public async Task Scale_needs_a_whole_number_of_replicas()
    {
        var result = await Orc.RunAsync(["scale", "service/web", "--replicas", "many"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: --replicas \"many\" is not a whole number of 0 or more", result.StderrLines[0]);
    }

    [Fact]
    public async Task Scale_refuses_kinds_other_than_services()
    {
        var result = await Orc.RunAsync(["scale", "job/report", "--replicas", "2", "--server", Nobody()]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: jobs cannot be used here", result.StderrLines[0]);
    }

    [Fact]
    public async Task Delete_without_a_name_says_how_to_give_one()
    {
        var result = await Orc.RunAsync(["delete", "service"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: delete needs a name", result.StderrLines[0]);
    }

    [Fact]
    public async Task Apply_of_a_missing_file_says_so_in_one_line_and_sends_nothing()
    {
        using var dir = new TempDirectory();
        var missing = dir.File("web.yaml");
        // The server is down: had anything been sent, the error would be about the server.
        var result = await Orc.RunAsync(["apply", "-f", missing, "--server", Nobody()]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal([$"error: {missing}: no such file or directory"], result.StderrLines);
    }

    [Fact]
    public async Task Apply_of_a_directory_without_specs_says_so()
    {
        using var dir = new TempDirectory();
        var result = await Orc.RunAsync(["apply", "-f", dir.Path, "--server", Nobody()]);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal([$"error: {dir.Path} is a directory with no *.yaml or *.yml files"], result.StderrLines);
    }

    [Fact]
    public async Task Apply_without_a_file_is_a_usage_error()
    {
        var result = await Orc.RunAsync(["apply"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--filename", result.StderrLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Orc_without_arguments_prints_help_listing_the_commands()
    {
        var result = await Orc.RunAsync([]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("apply", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("describe", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollout_without_a_subcommand_is_a_usage_error()
    {
        var result = await Orc.RunAsync(["rollout"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("Run 'orc rollout --help' for usage.", result.StderrLines[^1]);
    }

    [Fact]
    public async Task Reading_stdin_twice_is_a_usage_error()
    {
        var result = await Orc.RunAsync(["apply", "-f", "-", "-f", "-", "--server", Nobody()], stdin: "kind: Job");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: -f - is given twice; stdin can be read only once", result.StderrLines[0]);
    }
}
