using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit;

namespace Lockstep.Core.Tests;

public sealed class ClockTests
{
    [Property(MaxTest = 200)]
    public Property Stamps_strictly_increase_whatever_the_wall_clock_and_remote_stamps_do() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Gen.Choose(0, 4).SelectMany(kind => Gen.Choose(-2000, 2000).Select(amount => (kind, amount))), 40)), steps =>
        {
            var time = new ManualTime(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));
            var clock = new HybridClock(time);
            var last = HlcTimestamp.Zero;
            foreach (var (kind, amount) in steps)
            {
                HlcTimestamp next;
                switch (kind)
                {
                    case 0:
                        time.Now = time.Now.AddMilliseconds(amount); // forwards or backwards
                        continue;
                    case 1:
                        var remote = new HlcTimestamp(time.GetUtcNow().ToUnixTimeMilliseconds() + amount, Math.Abs(amount) % 5);
                        next = clock.Observe(remote);
                        if (next <= remote)
                        {
                            return false;
                        }
                        break;
                    default:
                        next = clock.Now();
                        break;
                }
                if (next <= last)
                {
                    return false;
                }
                last = next;
            }
            return true;
        });

    [Fact]
    public void Now_follows_the_wall_clock_when_it_moves_forward()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeMilliseconds(1000));
        var clock = new HybridClock(time);
        Assert.Equal(new HlcTimestamp(1000, 0), clock.Now());
        Assert.Equal(new HlcTimestamp(1000, 1), clock.Now());
        time.Now = time.Now.AddMilliseconds(5);
        Assert.Equal(new HlcTimestamp(1005, 0), clock.Now());
        time.Now = DateTimeOffset.FromUnixTimeMilliseconds(900); // the wall clock steps back
        Assert.Equal(new HlcTimestamp(1005, 1), clock.Now());
    }

    [Property]
    public Property Stamps_round_trip_through_text_and_order_like_tuples() =>
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue).SelectMany(a => Gen.Choose(0, 1000).SelectMany(b => Gen.Choose(0, int.MaxValue).SelectMany(c => Gen.Choose(0, 1000).Select(d => (a, b, c, d)))))), t =>
        {
            var x = new HlcTimestamp(t.a * 1000L, t.b);
            var y = new HlcTimestamp(t.c * 1000L, t.d);
            return HlcTimestamp.Parse(x.ToString()) == x
                && Math.Sign(x.CompareTo(y)) == Math.Sign(x.WallMs != y.WallMs ? x.WallMs.CompareTo(y.WallMs) : x.Counter.CompareTo(y.Counter));
        });

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("-1-2")]
    [InlineData("1-x")]
    public void Malformed_stamps_do_not_parse(string text)
    {
        Assert.False(HlcTimestamp.TryParse(text, out _));
    }
}

/// <summary>A wall clock the test sets, backwards too (FakeTimeProvider refuses to go back in time).</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}
