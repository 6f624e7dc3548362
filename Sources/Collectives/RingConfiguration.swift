// The knobs of a ring: deadlines, chunking, socket bounds. Every rank of a ring must use the same
// chunking (the handshake checks it), since chunk boundaries are part of the wire protocol.

/// How a `RingCommunicator` moves data. The defaults were tuned on loopback (README "Collectives").
public struct RingConfiguration: Sendable, Equatable {
    /// The longest this rank waits without any progress (nothing received, nothing sent) before an
    /// operation fails with `.timeout`. Every receive is bounded by it.
    public var timeout: Duration = .seconds(30)
    /// The longest forming the ring may take (handshake and the first barrier).
    public var setupTimeout: Duration = .seconds(30)
    /// Largest payload of one frame. Big buffers are cut into chunks of at most this size and
    /// pipelined, so a rank forwards early chunks while later ones are still arriving.
    public var chunkBytes: Int = 512 << 10
    /// High-water mark of the ring sockets, in chunks, each direction. Bounds the memory queued
    /// per connection at about `2 * inFlightChunks * chunkBytes`.
    public var inFlightChunks: Int = 8
    /// Send chunks straight from the caller's buffer (`zmq_msg_init_data`) instead of copying them.
    /// Operations then return only after libzmq released every such chunk.
    public var zeroCopy: Bool = true
    /// All-reduces of at most this many bytes gather every rank's whole vector and sum in rank order
    /// (W-1 hops instead of 2(W-1)): the latency path for batch-norm statistics and losses.
    public var smallMessageBytes: Int = 64 << 10
    /// SO_SNDBUF / SO_RCVBUF of the ring connections; nil leaves the kernel's choice.
    public var socketBufferBytes: Int?
    /// ZMTP heartbeat interval on the ring connections (dropped after three silent intervals);
    /// nil turns heartbeats off. The operation deadline is what detects a dead peer; heartbeats only
    /// let libzmq tear down dead TCP connections.
    public var heartbeatInterval: Duration? = .seconds(2)

    public init() {}
}
