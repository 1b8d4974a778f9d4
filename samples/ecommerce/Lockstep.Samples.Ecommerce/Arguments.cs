using System.Globalization;

namespace Lockstep.Samples.Ecommerce;

/// <summary>The command line: a role, then <c>--name value</c> pairs.</summary>
internal sealed record Arguments(string Role, Dictionary<string, string> Values)
{
    public static Arguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }
        return new Arguments(args.Length > 0 ? args[0] : "", values);
    }

    public string Get(string name, string fallback) => Values.GetValueOrDefault(name, fallback);

    public int Int(string name, int fallback) => Values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => Values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public Uri Url => new(Get("url", $"http://127.0.0.1:{Int("port", 5090)}"));

    public static int Usage()
    {
        Console.Error.WriteLine("usage: all [--port 5090] [--data dir] | server --port P --data DIR | users|inventory|payments|orders --url URL [...] | place --url URL --count N");
        return 2;
    }

    /// <summary>Tells a launcher (or a test) the role is up.</summary>
    public static void Ready(string role)
    {
        Console.WriteLine($"{role} ready");
        Console.Out.Flush();
    }
}
