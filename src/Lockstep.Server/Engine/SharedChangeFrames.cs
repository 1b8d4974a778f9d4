using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// A committed batch's change frames, each encoded once per encoding and frame kind and shared by every
/// connection the batch goes to (<see cref="SharedFrame"/>: only the subscription id is written per connection).
/// Frames that carry a <c>mid</c> go to one connection only and are not shared.
/// </summary>
internal sealed class SharedChangeFrames
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(IFrameCodec Codec, long Seq, ChangeFrameKind Kind), SharedFrame> _frames = [];

    public SharedFrame Get(IFrameCodec codec, Change change, ChangeFrameKind kind)
    {
        var key = (codec, change.Seq, kind);
        lock (_gate)
        {
            if (_frames.TryGetValue(key, out var shared))
            {
                return shared;
            }
        }
        // Encoded outside the lock: two connections may both encode the same frame once, never wait on each other.
        var encoded = SharedFrame.Encode(codec, Frames.Change("", change, kind, clientId: null));
        lock (_gate)
        {
            return _frames.TryAdd(key, encoded) ? encoded : _frames[key];
        }
    }
}
