namespace Lockstep.Server;

/// <summary>
/// Told of every batch the sequencer commits (registered as a service; every registration is told, in
/// registration order). The sequencer calls it after the commit and before the batch's writers hear back.
/// </summary>
internal interface ICommitObserver
{
    /// <summary>Called on the sequencer's loop: must be quick, must not block, and should not throw (a throw is logged and ignored).</summary>
    void OnCommitted(CommittedBatch batch);
}
