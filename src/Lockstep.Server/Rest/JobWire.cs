using System.Globalization;
using System.Text.Json;
using Lockstep.Core.Jobs;

namespace Lockstep.Server.Rest;

/// <summary>The job queues' fields on the wire: numbers, leases and lanes read from requests, and a job as JSON.</summary>
internal static class JobWire
{
    public static bool TryId(string text, out long id) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id > 0;

    public static bool TryInteger(JsonElement root, string name, long min, long max, long fallback, out long value)
    {
        value = fallback;
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value) && value >= min && value <= max;
    }

    public static bool TryLease(JsonElement root, JobQueueOptions options, out TimeSpan lease)
    {
        var ok = TryInteger(root, "leaseMs", 100, (long)options.MaxLeaseDuration.TotalMilliseconds, (long)options.DefaultLeaseDuration.TotalMilliseconds, out var ms);
        lease = TimeSpan.FromMilliseconds(ms);
        return ok;
    }

    public static bool TryLane(JsonElement root, out JobLane lane)
    {
        lane = JobLane.Medium;
        if (!root.TryGetProperty("lane", out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        switch (element.ValueKind == JsonValueKind.String ? element.GetString() : null)
        {
            case "high":
                lane = JobLane.High;
                return true;
            case "medium":
                return true;
            case "low":
                lane = JobLane.Low;
                return true;
            default:
                return false;
        }
    }

    public static string LaneName(JobLane lane) => lane switch
    {
        JobLane.High => "high",
        JobLane.Low => "low",
        _ => "medium",
    };

    public static string StateName(JobState state) => state switch
    {
        JobState.Ready => "ready",
        JobState.Leased => "leased",
        JobState.Done => "done",
        _ => "dead",
    };

    public static void WriteJobFields(Utf8JsonWriter w, JobRecord job)
    {
        w.WriteNumber("id", job.Id);
        w.WriteString("queue", job.Queue);
        w.WriteString("lane", LaneName(job.Lane));
        w.WriteString("state", StateName(job.State));
        w.WritePropertyName("payload");
        w.WriteRawValue(job.Payload, skipInputValidation: true);
        if (job.IdempotencyKey is not null)
        {
            w.WriteString("idempotencyKey", job.IdempotencyKey);
        }
        w.WriteNumber("attempts", job.Attempts);
        w.WriteNumber("maxAttempts", job.MaxAttempts);
        w.WriteNumber("token", job.Token);
        w.WriteString("runAt", job.RunAt);
        if (job.LeaseExpiresAt is { } expires)
        {
            w.WriteString("leaseExpiresAt", expires);
        }
        if (job.LastError is not null)
        {
            w.WriteString("lastError", job.LastError);
        }
        w.WriteString("enqueuedAt", job.EnqueuedAt);
        if (job.FinishedAt is { } finished)
        {
            w.WriteString("finishedAt", finished);
        }
    }
}
