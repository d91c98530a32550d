using Grpc.Core;
using Google.Protobuf;
using Orchestrator.Cli.Commands;
using Orchestrator.TestSupport;
using Orchestrator.V1;

namespace Orchestrator.Cli.Tests;

public sealed class ApplyCommandTests
{
    [Theory]
    [InlineData(ObjectKind.Service, ApplyOutcome.Created, 1, false, "service/web created")]
    [InlineData(ObjectKind.Service, ApplyOutcome.Unchanged, 1, false, "service/web unchanged")]
    [InlineData(ObjectKind.Service, ApplyOutcome.Configured, 2, false, "service/web configured (revision 2)")]
    [InlineData(ObjectKind.Job, ApplyOutcome.Created, 0, false, "job/web created")]
    [InlineData(ObjectKind.Service, ApplyOutcome.Created, 1, true, "service/web created (dry run)")]
    public void Each_object_gets_one_line_with_its_outcome(ObjectKind kind, ApplyOutcome outcome, long revision, bool dryRun, string expected)
    {
        var line = ApplyCommand.FormatResult(new ApplyResult { Kind = kind, Name = "web", Outcome = outcome, Revision = revision }, dryRun);
        Assert.Equal(expected, line);
    }

    [Fact]
    public void A_configured_service_names_its_new_revision_and_other_changes()
    {
        var result = new ApplyResult { Kind = ObjectKind.Service, Name = "web", Outcome = ApplyOutcome.Configured, Revision = 3, Changes = { "template: image nginx:1.26 -> nginx:1.27", "replicas 3 -> 5" } };
        Assert.Equal("service/web configured (revision 3, replicas 3 -> 5)", ApplyCommand.FormatResult(result, dryRun: false));
    }

    [Fact]
    public void A_service_whose_template_did_not_change_keeps_its_revision_out_of_the_line()
    {
        var result = new ApplyResult { Kind = ObjectKind.Service, Name = "web", Outcome = ApplyOutcome.Configured, Revision = 1, Changes = { "replicas 5 -> 3" } };
        Assert.Equal("service/web configured (replicas 5 -> 3)", ApplyCommand.FormatResult(result, dryRun: false));
    }

    [Fact]
    public void Validation_errors_are_read_from_the_trailer()
    {
        var errors = new ValidationErrors
        {
            Errors =
            {
                new ValidationError { SourceName = "web.yaml", Line = 7, Field = "resources.memory", Message = "\"128MB\" is not a quantity; did you mean 128Mi?", Text = "web.yaml:7: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?" },
                new ValidationError { SourceName = "web.yaml", Line = 2, Field = "name", Message = "\"Web\" is not a DNS label" },
            },
        };
        var trailers = new Metadata { { ApplyCommand.ValidationErrorsTrailer, errors.ToByteArray() } };
        var e = new RpcException(new Status(StatusCode.InvalidArgument, "ignored when the trailer is there"), trailers);

        Assert.Equal(
            ["web.yaml:7: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?", "web.yaml:2: name: \"Web\" is not a DNS label"],
            ApplyCommand.ValidationLines(e));
    }

    [Fact]
    public void Validation_errors_fall_back_to_the_status_detail_lines()
    {
        var e = new RpcException(new Status(StatusCode.InvalidArgument, "a.yaml:1: kind: missing\na.yaml:3: replicas: -1 is below 0\n"));
        Assert.Equal(["a.yaml:1: kind: missing", "a.yaml:3: replicas: -1 is below 0"], ApplyCommand.ValidationLines(e));
    }

    [Fact]
    public async Task A_directory_gives_its_yaml_files_in_name_order_named_as_typed()
    {
        using var dir = new TempDirectory();
        await File.WriteAllTextAsync(dir.File("b.yml"), "kind: Job", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(dir.File("a.yaml"), "kind: Service", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(dir.File("notes.txt"), "not a spec", TestContext.Current.CancellationToken);
        using var console = new TestConsole("from stdin");

        var sources = await ApplyCommand.ReadSourcesAsync(console, [dir.Path, "-"], CancellationToken.None);

        Assert.Equal([Path.Combine(dir.Path, "a.yaml"), Path.Combine(dir.Path, "b.yml"), "<stdin>"], sources.Select(s => s.Name));
        Assert.Equal(["kind: Service", "kind: Job", "from stdin"], sources.Select(s => s.Content));
    }
}
