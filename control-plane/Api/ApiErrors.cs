using Google.Protobuf;
using Grpc.Core;
using Orchestrator.ControlPlane.Objects;
using Orchestrator.ControlPlane.Specs;
using Orchestrator.ControlPlane.Store;
using Orchestrator.V1;

namespace Orchestrator.ControlPlane.Api;

/// <summary>
/// How errors travel to clients: each domain or store error becomes one gRPC status
/// whose detail is a sentence a person can act on.
/// </summary>
public static class ApiErrors
{
    /// <summary>Trailer carrying a serialized <see cref="ValidationErrors"/> on INVALID_ARGUMENT from Apply.</summary>
    public const string ValidationErrorsTrailer = "validation-errors-bin";

    /// <summary>The gRPC status for an exception, or null when it is not one we know (a bug: INTERNAL).</summary>
    public static RpcException? Map(Exception exception) => exception switch
    {
        RpcException rpc => rpc,
        ObjectNotFoundException e => new RpcException(new Status(StatusCode.NotFound, e.Message)),
        InvalidObjectRequestException e => new RpcException(new Status(StatusCode.InvalidArgument, e.Message)),
        ObjectConflictException e => new RpcException(new Status(StatusCode.Aborted, e.Message)),
        ObjectStateException e => new RpcException(new Status(StatusCode.FailedPrecondition, e.Message)),
        InvalidStoredObjectException e => new RpcException(new Status(StatusCode.DataLoss, e.Message)),
        RevisionCompactedException e => new RpcException(new Status(StatusCode.OutOfRange, e.Message)),
        FutureRevisionException e => new RpcException(new Status(StatusCode.OutOfRange, e.Message)),
        StoreUnavailableException e => new RpcException(new Status(StatusCode.Unavailable, $"the state store is unavailable: {e.Message}")),
        LeaseNotFoundException e => new RpcException(new Status(StatusCode.NotFound, e.Message)),
        StateStoreException e => new RpcException(new Status(StatusCode.Internal, $"state store error: {e.Message}")),
        ObjectDisposedException => new RpcException(new Status(StatusCode.Unavailable, "the state store is closed because this control plane is shutting down; retry against another control plane or after it restarts")),
        _ => null,
    };

    /// <summary>INVALID_ARGUMENT with every error line as the detail and the structured errors in a trailer.</summary>
    public static RpcException Validation(IReadOnlyList<SpecError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var structured = new ValidationErrors();
        foreach (var error in errors)
        {
            structured.Errors.Add(new ValidationError
            {
                SourceName = error.Source,
                Line = error.Line,
                Column = error.Column,
                Field = error.Field,
                Message = error.Message,
                Text = error.ToString(),
            });
        }

        var trailers = new Metadata { { ValidationErrorsTrailer, structured.ToByteArray() } };
        return new RpcException(new Status(StatusCode.InvalidArgument, string.Join('\n', errors.Select(e => e.ToString()))), trailers);
    }
}
