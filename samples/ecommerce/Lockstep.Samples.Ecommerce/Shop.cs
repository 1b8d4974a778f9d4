using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Samples.Ecommerce;

/// <summary>What the services share: collection names, the products, and a small REST helper.</summary>
internal static class Shop
{
    public const string Users = "users";
    public const string Orders = "orders";
    public const string Inventory = "inventory";
    public const string Reservations = "reservations";
    public const string Payments = "payments";
    public static readonly string[] Skus = ["book", "lamp", "mug"];

    public static HttpClient Http(Uri server) => new() { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };

    public static async Task<JsonObject?> GetAsync(HttpClient http, string collection, string id, CancellationToken ct = default)
    {
        var response = await http.GetAsync($"/v1/collections/{collection}/docs/{Uri.EscapeDataString(id)}", ct);
        return response.StatusCode == HttpStatusCode.NotFound ? null : (await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonObject>(ct))!;
    }

    /// <summary>Creates a document unless it exists; true when this call created it.</summary>
    public static async Task<bool> CreateAsync(HttpClient http, string collection, string id, object doc, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/{collection}/docs/{Uri.EscapeDataString(id)}") { Content = JsonContent.Create(doc) };
        request.Headers.TryAddWithoutValidation("If-None-Match", "*");
        var response = await http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            return false;
        }
        response.EnsureSuccessStatusCode();
        return true;
    }

    public static async Task PatchAsync(HttpClient http, string collection, string id, object fields, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/collections/{collection}/docs/{Uri.EscapeDataString(id)}") { Content = JsonContent.Create(fields) };
        (await http.SendAsync(request, ct)).EnsureSuccessStatusCode();
    }

    /// <summary>Calls a server-side mutator; a refusal comes back as an exception carrying its code and reason.</summary>
    public static async Task CallAsync(HttpClient http, string mutator, object args, CancellationToken ct = default)
    {
        var response = await http.PostAsJsonAsync("/v1/mutations", new { name = mutator, args }, ct);
        if (!response.IsSuccessStatusCode)
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
            throw new InvalidOperationException($"{mutator} refused: {(string?)problem?["code"]} {(string?)problem?["reason"]}");
        }
    }

    /// <summary><c>place --url U --count N</c>: places orders from random users for random products, N at once.</summary>
    public static async Task<int> PlaceOrdersAsync(Arguments options)
    {
        using var http = Http(options.Url);
        var count = options.Int("count", 20);
        var random = new Random();
        var prefix = "o-" + Guid.NewGuid().ToString("N")[..6] + "-";
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => PlaceAsync(http, prefix + i, "u" + random.Next(options.Int("users", 10)), Skus[random.Next(Skus.Length)], random.Next(5, 80))));
        Console.WriteLine($"placed {count} orders ({prefix}0…)");
        return 0;
    }

    public static Task PlaceAsync(HttpClient http, string id, string user, string sku, int total) =>
        CreateAsync(http, Orders, id, new { userId = user, sku, quantity = 1, total, status = "placed" });
}
