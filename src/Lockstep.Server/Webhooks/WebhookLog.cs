using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>What a webhook's delivery reads and writes: the store, the fan-out's head (to wait for changes), and the sequencer (for its cursor).</summary>
/// <param name="Store">Where delivery reads the log after its cursor.</param>
/// <param name="FanOut">Whose head delivery waits past when it has caught up.</param>
/// <param name="Sequencer">Through which the cursor and dead letters are written, like any document.</param>
/// <param name="PollInterval">How long delivery waits without a commit before reading anyway (another node may have committed).</param>
internal sealed record WebhookLog(IChangeStore Store, FanOut FanOut, Sequencer Sequencer, TimeSpan PollInterval);
