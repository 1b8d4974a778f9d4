namespace Lockstep.Server;

/// <summary>Something that receives committed batches from the fan-out (a WebSocket session).</summary>
internal interface IChangeListener
{
    /// <summary>Called on the sequencer's thread after each commit; must not block.</summary>
    void Offer(ChangeBatch batch);

    /// <summary>Stop taking offered batches and catch up from the store (some will never be offered).</summary>
    void Overflow();
}
