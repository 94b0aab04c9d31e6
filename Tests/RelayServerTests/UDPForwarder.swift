import TestSupport
import UVNet

/// A port mapping in miniature, as Docker's `-p 7500:7400/udp` or a node's Agones host port
/// makes one: datagrams to ``port`` go to the target from a socket of their own per client, and
/// what the target answers to that socket goes back to the client. The relay behind it sees the
/// forwarder's addresses, as a relay behind NAT sees the mapping's.
final class UDPForwarder: Sendable {
    let loop = EventLoop(name: "udp-forwarder")
    /// The forwarder's port on 127.0.0.1.
    let port: Int
    private let front: LoopBound<DatagramSocket>
    private let forwarded = Locked(0)
    private let target: Locked<Int?>

    /// Datagrams forwarded to the target so far.
    var forwardedCount: Int { forwarded.withLock { $0 } }

    /// Forwards from `port` (0 picks one) to `targetPort` on 127.0.0.1; without a target,
    /// datagrams are dropped until ``forward(to:)`` names one.
    init(port: Int = 0, targetPort: Int? = nil) throws {
        let target = Locked(targetPort)
        self.target = target
        let (loop, forwarded) = (self.loop, self.forwarded)
        let outcome = Locked<Result<(LoopBound<DatagramSocket>, Int), SocketError>?>(nil)
        _ = loop.execute {
            let front = DatagramSocket(loop: loop)
            do throws(SocketError) {
                try front.bind(localPort: port, localAddress: "127.0.0.1")
                var backs: [SocketAddress: DatagramSocket] = [:]
                front.onData = { datagram in
                    guard let targetPort = target.withLock({ $0 }),
                          let destination = try? SocketAddress(ipAddress: "127.0.0.1", port: targetPort) else { return }
                    let client = datagram.source
                    let back: DatagramSocket
                    if let existing = backs[client] {
                        back = existing
                    } else {
                        back = DatagramSocket(loop: loop)
                        guard (try? back.bind(localPort: 0, localAddress: "127.0.0.1")) != nil else { return }
                        back.onData = { [unowned front] reply in _ = try? front.trySend(reply.bytes, to: client) }
                        _ = try? back.receive()
                        backs[client] = back
                    }
                    if (try? back.trySend(datagram.bytes, to: destination)) == true {
                        forwarded.withLock { $0 += 1 }
                    }
                }
                try front.receive()
                outcome.withLockThenBroadcast { $0 = .success((LoopBound(front, loop: loop), front.localPort)) }
            } catch {
                outcome.withLockThenBroadcast { $0 = .failure(error) }
            }
        }
        guard let result = outcome.wait(until: { $0 }, timeout: .seconds(10)) else { throw TestFailure("the forwarder did not start") }
        (front, self.port) = try result.get()
    }

    /// Sends what arrives from now on to `port` on 127.0.0.1.
    func forward(to port: Int) {
        target.withLock { $0 = port }
    }

    /// Closes the sockets and ends the loop.
    func stop() {
        let front = self.front
        _ = loop.execute { front.value.close() }
        loop.syncShutdown()
    }
}
