// Stand-ins for UVNet's clock API until it lands; deleted then.
import CLibUV
import Synchronization
import UVNet

extension EventLoop {
    var now: UInt64 { uv_hrtime() }
}

enum MonotonicClock {
    static var nanoseconds: UInt64 { uv_hrtime() }
}

public final class ManualClock: Sendable {
    private let value = Atomic<UInt64>(1_000_000_000)
    var nanoseconds: UInt64 { value.load(ordering: .acquiring) }
}

extension DatagramSocket {
    func attachReusePortSteering(wordOffset: UInt32, groupSize: UInt32) throws(SocketError) {
        throw SocketError(.io, operation: "steer", message: "not yet available")
    }
}

extension EventLoop {
    convenience init(name: String, clock: ManualClock?) { self.init(name: name) }
}
