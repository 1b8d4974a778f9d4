using System.Collections.Frozen;

namespace Lockstep.Protocol;

/// <summary>The catalog of stable error codes. Never rename or reuse a code; add new ones.</summary>
public static class ErrorCodes
{
    /// <summary>The frame is not a JSON object, or not valid JSON or UTF-8.</summary>
    public static readonly ErrorCode BadFrame = new("bad_frame", 400, false, "Malformed frame");

    /// <summary>The frame's <c>t</c> names no message type of this protocol version.</summary>
    public static readonly ErrorCode UnknownType = new("unknown_type", 400, false, "Unknown message type");

    /// <summary>A field is missing, has the wrong type, or a name breaks the naming rules.</summary>
    public static readonly ErrorCode InvalidRequest = new("invalid_request", 400, false, "Invalid request");

    /// <summary>A document is not a JSON object, or a field name breaks the rules.</summary>
    public static readonly ErrorCode InvalidDocument = new("invalid_document", 400, false, "Invalid document");

    /// <summary>A subscription or listing filter is malformed.</summary>
    public static readonly ErrorCode InvalidFilter = new("invalid_filter", 400, false, "Invalid filter");

    /// <summary>A subscription or listing filter is over the server's limits on its terms or its bytes.</summary>
    public static readonly ErrorCode FilterTooLarge = new("filter_too_large", 413, false, "Filter too large");

    /// <summary>An operation cannot apply to the document (inc on a non-number, a path through a non-object).</summary>
    public static readonly ErrorCode InvalidOperation = new("invalid_operation", 422, false, "Operation does not apply");

    /// <summary>A WebSocket frame is larger than the server's limit.</summary>
    public static readonly ErrorCode FrameTooLarge = new("frame_too_large", 413, false, "Frame too large");

    /// <summary>A REST request body is larger than the server's limit.</summary>
    public static readonly ErrorCode BodyTooLarge = new("body_too_large", 413, false, "Request body too large");

    /// <summary>The first frame on a connection was not <c>hello</c>, or no frame came within the hello timeout.</summary>
    public static readonly ErrorCode HelloRequired = new("hello_required", 400, false, "Hello required first");

    /// <summary>The document does not exist (or is deleted).</summary>
    public static readonly ErrorCode NotFound = new("not_found", 404, false, "Document not found");

    /// <summary>An <c>ifVersion</c> did not match the document's current version; the current document comes with it.</summary>
    public static readonly ErrorCode VersionConflict = new("version_conflict", 409, false, "Version conflict");

    /// <summary>The collection is <c>strict</c> and a write to an existing document carried no <c>ifVersion</c>.</summary>
    public static readonly ErrorCode PreconditionRequired = new("precondition_required", 428, false, "Version required");

    /// <summary>No mutator is registered under that name.</summary>
    public static readonly ErrorCode UnknownMutator = new("unknown_mutator", 404, false, "Unknown mutator");

    /// <summary>A mutator rejected the call with a domain reason (see the <c>reason</c> field).</summary>
    public static readonly ErrorCode MutationRejected = new("mutation_rejected", 422, false, "Mutation rejected");

    /// <summary>A mutator threw an unexpected exception; nothing was written.</summary>
    public static readonly ErrorCode MutatorFailed = new("mutator_failed", 500, false, "Mutator failed");

    /// <summary>The subscription id is already in use on this connection.</summary>
    public static readonly ErrorCode DuplicateSubscription = new("duplicate_subscription", 400, false, "Subscription id in use");

    /// <summary>No subscription with that id exists on this connection.</summary>
    public static readonly ErrorCode UnknownSubscription = new("unknown_subscription", 400, false, "Unknown subscription");

    /// <summary>The cursor is older than the retained log; start again from a snapshot.</summary>
    public static readonly ErrorCode CursorExpired = new("cursor_expired", 410, false, "Cursor expired");

    /// <summary>The connection sent nothing for longer than the idle timeout.</summary>
    public static readonly ErrorCode IdleTimeout = new("idle_timeout", 408, true, "Idle timeout");

    /// <summary>Too many requests are waiting; slow down and retry.</summary>
    public static readonly ErrorCode Overloaded = new("overloaded", 503, true, "Server overloaded");

    /// <summary>The store failed to commit; nothing from the request was written. Retry.</summary>
    public static readonly ErrorCode StorageUnavailable = new("storage_unavailable", 503, true, "Storage unavailable");

    /// <summary>The server is shutting down; reconnect (to another node, if any).</summary>
    public static readonly ErrorCode ShuttingDown = new("shutting_down", 503, true, "Server shutting down");

    /// <summary>The request is not authenticated (reserved for the authentication layer).</summary>
    public static readonly ErrorCode Unauthorized = new("unauthorized", 401, false, "Unauthorized");

    /// <summary>A write would make a document larger than the server's document limit.</summary>
    public static readonly ErrorCode DocumentTooLarge = new("document_too_large", 413, false, "Document too large");

    /// <summary>The connection already holds as many subscriptions as the server allows.</summary>
    public static readonly ErrorCode TooManySubscriptions = new("too_many_subscriptions", 429, false, "Too many subscriptions");

    /// <summary>The client id already has as many open connections as the server allows.</summary>
    public static readonly ErrorCode TooManyConnections = new("too_many_connections", 429, false, "Too many connections");

    /// <summary>The client sent more than its rate allows; retry after a short wait.</summary>
    public static readonly ErrorCode RateLimited = new("rate_limited", 429, true, "Rate limited");

    /// <summary>The connection's token expired; reconnect with a fresh token (transient: the SDKs do so through their token provider).</summary>
    public static readonly ErrorCode TokenExpired = new("token_expired", 401, true, "Token expired");

    /// <summary>A webhook endpoint refused a delivery asked for now (a replay of a dead letter) through all its attempts.</summary>
    public static readonly ErrorCode DeliveryFailed = new("delivery_failed", 502, true, "Delivery failed");

    /// <summary>A frame was sent so slowly that it did not arrive whole within the frame timeout.</summary>
    public static readonly ErrorCode FrameTimeout = new("frame_timeout", 408, false, "Frame timeout");

    /// <summary>The caller may not do this: the collection's access rules, or an API key's scopes, do not allow it.</summary>
    public static readonly ErrorCode Forbidden = new("forbidden", 403, false, "Forbidden");

    /// <summary>
    /// An unexpected server error; it has been logged. Not transient: it is a bug meeting this input, and
    /// the same request meets it again (failures that pass have their own codes: overloaded, storage_unavailable).
    /// </summary>
    public static readonly ErrorCode InternalError = new("internal_error", 500, false, "Internal error");

    /// <summary>
    /// A lease is no longer the caller's, so its update was not recorded: a job update (complete, fail,
    /// extend) carried a fencing token that is no longer the job's newest, or a consumer group member
    /// committed a partition it no longer holds under that epoch.
    /// </summary>
    public static readonly ErrorCode LeaseLost = new("lease_lost", 409, false, "Lease lost");

    /// <summary>No job has that id (it never existed, or it was purged after completion).</summary>
    public static readonly ErrorCode JobNotFound = new("job_not_found", 404, false, "Job not found");

    /// <summary>The <c>hello</c> asked for a protocol version this server does not speak.</summary>
    public static readonly ErrorCode UnsupportedProtocol = new("unsupported_protocol", 400, false, "Unsupported protocol version");

    /// <summary>
    /// A server without credentials configured serves only pages of its own machine: the request came
    /// over loopback under a Host that is not a loopback name (DNS rebinding).
    /// </summary>
    public static readonly ErrorCode HostNotAllowed = new("host_not_allowed", 421, false, "Host not allowed");

    /// <summary>A request body that is not declared as JSON (<c>Content-Type: application/json</c>).</summary>
    public static readonly ErrorCode UnsupportedMediaType = new("unsupported_media_type", 415, false, "Unsupported media type");

    /// <summary>No endpoint answers that path (REST: the router's 404).</summary>
    public static readonly ErrorCode UnknownEndpoint = new("unknown_endpoint", 404, false, "Unknown endpoint");

    /// <summary>The path has an endpoint, but not for this HTTP method (the router's 405; <c>Allow</c> lists the methods).</summary>
    public static readonly ErrorCode MethodNotAllowed = new("method_not_allowed", 405, false, "Method not allowed");

    /// <summary>Every code, for lookups and for the docs test.</summary>
    public static IReadOnlyList<ErrorCode> All { get; } =
    [
        BadFrame, UnknownType, InvalidRequest, InvalidDocument, InvalidFilter, InvalidOperation,
        FrameTooLarge, BodyTooLarge, HelloRequired, NotFound, VersionConflict, PreconditionRequired,
        UnknownMutator, MutationRejected, MutatorFailed, DuplicateSubscription, UnknownSubscription,
        CursorExpired, IdleTimeout, Overloaded, StorageUnavailable, ShuttingDown, Unauthorized,
        Forbidden, InternalError, DocumentTooLarge, TooManySubscriptions, TooManyConnections, RateLimited,
        TokenExpired, FrameTimeout, LeaseLost, JobNotFound, DeliveryFailed, UnsupportedProtocol, FilterTooLarge, HostNotAllowed,
        UnsupportedMediaType, UnknownEndpoint, MethodNotAllowed,
    ];

    private static readonly FrozenDictionary<string, ErrorCode> ByCode = All.ToFrozenDictionary(e => e.Code, StringComparer.Ordinal);

    /// <summary>Finds a code by its string, or null for a code this version does not know.</summary>
    public static ErrorCode? Find(string code) => ByCode.GetValueOrDefault(code);
}
