namespace Lockstep.Samples.Ecommerce;

/// <summary>The users service: creates the users, then renames one now and then (the projection follows).</summary>
internal static class UsersService
{
    public static async Task<int> RunAsync(Arguments options)
    {
        using var http = Shop.Http(options.Url);
        var count = options.Int("count", 10);
        for (var i = 0; i < count; i++)
        {
            await Shop.CreateAsync(http, Shop.Users, "u" + i, new { name = "User " + i });
        }
        Arguments.Ready("users");
        var random = new Random();
        for (var n = 1; ; n++)
        {
            await Task.Delay(TimeSpan.FromSeconds(options.Double("rename-every", 2)));
            await Shop.PatchAsync(http, Shop.Users, "u" + random.Next(count), new { name = $"User {random.Next(count)} ({n})" });
        }
    }
}
