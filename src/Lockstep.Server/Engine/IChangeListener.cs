namespace Lockstep.Server;

/// <summary>Something that receives committed batches from the fan-out (a WebSocket session).</summary>
internal interface IChangeListener
{
    /// <summary>
    /// Called on the publishing thread (the sequencer's, or the log follower's) after each commit; must not block.
    /// True when the listener queued the batch and the caller must now call <see cref="Deliver"/> once.
    /// </summary>
    bool Offer(ChangeBatch batch);

    /// <summary>Delivers what the listener queued, on the calling thread until it would wait (the fan-out's delivery thread).</summary>
    void Deliver();

    /// <summary>Stop taking offered batches and catch up from the store (some will never be offered).</summary>
    void Overflow();
}
