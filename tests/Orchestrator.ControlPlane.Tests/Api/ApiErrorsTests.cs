using Grpc.Core;
using Orchestrator.ControlPlane.Api;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Tests.Api;

public class ApiErrorsTests
{
    public static TheoryData<Exception, StatusCode, string> Cases => new()
    {
        { new ObjectNotFoundException("service", "web"), StatusCode.NotFound, "service \"web\" not found" },
        { new InvalidObjectRequestException("bad name"), StatusCode.InvalidArgument, "bad name" },
        { new ObjectConflictException("run it again"), StatusCode.Aborted, "run it again" },
        { new ObjectStateException("node \"n\" is connected"), StatusCode.FailedPrecondition, "is connected" },
        { new RevisionCompactedException(3, 10), StatusCode.OutOfRange, "revision 3 has been compacted" },
        { new FutureRevisionException(30, 10), StatusCode.OutOfRange, "revision 30 is in the future" },
        { new StoreUnavailableException("etcd at 127.0.0.1:2379 does not answer"), StatusCode.Unavailable, "the state store is unavailable: etcd at 127.0.0.1:2379 does not answer" },
        { new LeaseNotFoundException(7), StatusCode.NotFound, "lease 7 does not exist" },
        { new ObjectDisposedException("store"), StatusCode.Unavailable, "shutting down" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_known_error_becomes_one_status_with_a_readable_detail(Exception error, StatusCode code, string detail)
    {
        var mapped = ApiErrors.Map(error);

        Assert.NotNull(mapped);
        Assert.Equal(code, mapped.StatusCode);
        Assert.Contains(detail, mapped.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_error_is_not_mapped_so_it_is_logged_as_internal() =>
        Assert.Null(ApiErrors.Map(new InvalidOperationException("bug")));

    [Fact]
    public void Validation_errors_travel_as_text_and_as_a_structured_trailer()
    {
        var error = ApiErrors.Validation(
        [
            new SpecError("web.yaml", 7, 11, "resources.memory", "\"128MB\" is not a quantity; did you mean 128Mi?"),
            new SpecError("web.yaml", 9, 1, "", "unknown field \"replica\"; did you mean replicas?"),
        ]);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("web.yaml:7: resources.memory: \"128MB\" is not a quantity; did you mean 128Mi?\nweb.yaml:9: unknown field \"replica\"; did you mean replicas?", error.Status.Detail);
        var structured = ValidationErrors.Parser.ParseFrom(error.Trailers.GetValueBytes(ApiErrors.ValidationErrorsTrailer));
        Assert.Equal([(7, 11, "resources.memory"), (9, 1, "")], structured.Errors.Select(e => (e.Line, e.Column, e.Field)));
        Assert.Equal(error.Status.Detail.Split('\n'), structured.Errors.Select(e => e.Text));
    }
}
