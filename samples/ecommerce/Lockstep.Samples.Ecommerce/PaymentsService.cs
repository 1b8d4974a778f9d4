using System.Text.Json.Nodes;
using Lockstep.Client.Jobs;

namespace Lockstep.Samples.Ecommerce;

/// <summary>
/// The payments service: a job worker on the <c>payments</c> queue that charges orders, failing at a
/// configurable rate like a card processor. A payment is a document created at most once per order, so
/// a job run twice never charges twice, and one the saga voided first is never charged.
/// </summary>
internal static class PaymentsService
{
    public static async Task<int> RunAsync(Arguments options)
    {
        var failRate = options.Double("fail-rate", 0.2);
        using var jobs = new LockstepJobs(new LockstepJobsOptions { BaseUrl = new Uri(options.Url, "/v1/") });
        using var http = Shop.Http(options.Url);
        await using var worker = new JobWorker(jobs, async (job, ct) =>
        {
            var order = (string)job.Payload!["order"]!;
            var declined = Random.Shared.NextDouble() < failRate;
            await Shop.CreateAsync(http, Shop.Payments, order, new JsonObject
            {
                ["amount"] = (int)job.Payload["amount"]!,
                ["status"] = declined ? "declined" : "charged",
            }, ct);
        }, new JobWorkerOptions { Queue = "payments", Concurrency = 4, ClaimWait = TimeSpan.FromSeconds(2) });
        await worker.StartAsync(CancellationToken.None);
        Arguments.Ready("payments");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}
