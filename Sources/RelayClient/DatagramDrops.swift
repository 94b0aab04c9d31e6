import UVNet

/// The client's rule for a datagram the kernel can't take at once: drop it and count it, never
/// queue it.
///
/// Game state and voice are worthless late, and a queue would grow without bound while the game
/// outpaces the network. The sends themselves come in as closures, so the rule is tested
/// without a kernel that refuses (loopback never does). Received datagrams that are malformed
/// are dropped and counted here too.
struct DatagramDrops {
    /// Datagrams dropped so far.
    private(set) var count = 0
    /// Received datagrams dropped because they were malformed (an AGGREGATE whose entries do
    /// not fill it exactly): dropped whole and counted, never delivered in part.
    private(set) var malformedReceived = 0

    /// Counts `count` datagrams dropped before they reached a socket (a WebSocket's output
    /// over its bound).
    mutating func dropped(_ count: Int = 1) {
        self.count += count
    }

    /// Counts one received datagram dropped as malformed.
    mutating func receivedMalformed() {
        malformedReceived += 1
    }

    /// Sends one datagram with `send` (``DatagramSocket/trySend(_:to:)`` in the client), counting
    /// it as dropped when `send` reports the kernel had no room.
    ///
    /// - Throws: What `send` throws; such a datagram is not counted as dropped.
    mutating func send(_ bytes: UnsafeRawBufferPointer,
                       with send: (UnsafeRawBufferPointer) throws(SocketError) -> Bool) throws(SocketError) {
        if try !send(bytes) { count += 1 }
    }

    /// Sends a burst of `count` datagrams of `segmentSize` bytes each from `bytes`: all at once
    /// with `sendSegments` (``DatagramSocket/sendSegments(_:segmentSize:)``), else one by one with
    /// `send`, counting those the kernel had no room for.
    ///
    /// - Returns: How many the kernel took.
    mutating func sendBurst(_ bytes: UnsafeRawBufferPointer, segmentSize: Int,
                            sendSegments: (UnsafeRawBufferPointer) throws(SocketError) -> Void,
                            send: (UnsafeRawBufferPointer) throws(SocketError) -> Bool) -> Int {
        let total = (bytes.count + segmentSize - 1) / segmentSize
        if (try? sendSegments(bytes)) != nil { return total }
        // No segmentation offload, or no room for the whole burst: what fits still goes.
        var taken = 0
        for index in 0..<total {
            let datagram = UnsafeRawBufferPointer(rebasing: bytes[(index * segmentSize)..<min((index + 1) * segmentSize, bytes.count)])
            do {
                if try send(datagram) { taken += 1 } else { count += 1 }
            } catch {
                // Refused for a reason other than room (the burst reports it as not taken).
            }
        }
        return taken
    }
}
