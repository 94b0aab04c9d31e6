import Synchronization
import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

// Shared helpers for the real-socket tests: a loop per test, a bounded wait for events that
// arrive on the loop thread, and Sendable snapshots of what the loop-bound objects saw.

/// How long a test waits for an event that must happen before it calls the wait a failure.
/// Generous, because the suite shares two cores with parallel tests and other builds; a
/// passing test never waits this long.
let eventTimeout: Duration = .seconds(10)

/// Runs `body` with a fresh ``EventLoop`` and shuts the loop down afterwards, also when `body` throws.
func withLoop<T: Sendable>(
    _ name: String = "uv-test",
    _ body: (EventLoop) async throws -> T
) async throws -> T {
    let loop = EventLoop(name: name)
    do {
        let result = try await body(loop)
        await loop.shutdown()
        return result
    } catch {
        await loop.shutdown()
        throw error
    }
}

/// The error a bounded wait throws when its event did not come.
struct WaitTimedOut: Error, CustomStringConvertible {
    let what: String
    let timeout: Duration
    var description: String { "timed out after \(timeout) waiting for \(what)" }
}

/// A thread-safe queue of events: the loop thread puts, the test awaits each one with a deadline.
///
/// For "must not arrive" checks, await a later positive control and then assert with
/// ``drain()`` or ``isEmpty`` that nothing else came before or after it.
final class Inbox<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: (id: UInt64, continuation: CheckedContinuation<Element?, Never>)?
        var nextID: UInt64 = 0
    }

    private let state = Locked(State())

    init() {}

    /// Adds an event; callable from any thread.
    func put(_ item: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    /// The next event, waiting at most `timeout`.
    ///
    /// - Throws: ``WaitTimedOut`` naming `what` when no event comes in time.
    func next(_ what: String, timeout: Duration = eventTimeout) async throws -> Element {
        let value: Element? = await withCheckedContinuation { continuation in
            let (immediate, id) = state.withLock { state -> (Element??, UInt64) in
                if !state.items.isEmpty { return (.some(state.items.removeFirst()), 0) }
                precondition(state.waiter == nil, "one waiter at a time per inbox")
                state.nextID += 1
                state.waiter = (state.nextID, continuation)
                return (nil, state.nextID)
            }
            if let immediate {
                continuation.resume(returning: immediate)
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                let expired = self.state.withLock { state -> CheckedContinuation<Element?, Never>? in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                expired?.resume(returning: nil)
            }
        }
        guard let value else { throw WaitTimedOut(what: what, timeout: timeout) }
        return value
    }

    /// The next `count` events, in order.
    func next(_ count: Int, _ what: String, timeout: Duration = eventTimeout) async throws -> [Element] {
        var result: [Element] = []
        for index in 0..<count {
            result.append(try await next("\(what) (\(index + 1) of \(count))", timeout: timeout))
        }
        return result
    }

    /// Takes every event that has arrived and not been awaited.
    func drain() -> [Element] {
        state.withLock { state in
            defer { state.items.removeAll() }
            return state.items
        }
    }

    /// Whether no event is waiting to be taken.
    var isEmpty: Bool { state.withLock { $0.items.isEmpty } }
}

/// Runs `body` on a new detached thread: for code that blocks, which must not tie up the
/// cooperative pool that runs the tests.
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Start: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Start(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { arg in
        Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}

/// A thread-safe counter for events too many to queue one by one.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    init() {}
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A received datagram, copied out of the loop's receive buffer so it can cross threads.
struct ReceivedDatagram: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let source: SocketAddress

    init(_ datagram: Datagram) {
        bytes = Array(datagram.bytes)
        source = datagram.source
    }

    init(bytes: [UInt8], source: SocketAddress) {
        self.bytes = bytes
        self.source = source
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
    var description: String { "\(bytes.count) bytes \"\(text.prefix(40))\" from \(source)" }
}

extension EventLoop {
    /// The number of open handles, read on the loop thread after one more turn of the loop, so
    /// close callbacks queued by earlier work have run.
    func liveHandlesAfterTurn() async throws -> Int {
        try await submit {}
        return try await submit { self.liveHandleCount }
    }
}

/// UTF-8 bytes of `text`.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A deterministic byte pattern of `count` bytes, distinct per `seed`.
func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 8)) }
}

/// The process's resident set size in bytes, from `/proc/self/statm`.
func residentBytes() throws -> Int {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { throw SocketError(.io, operation: "open /proc/self/statm", message: "errno \(errno)") }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0 else { throw SocketError(.io, operation: "read /proc/self/statm", message: "errno \(errno)") }
    // Fields: size resident shared text lib data dt, in pages.
    let fields = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else {
        throw SocketError(.io, operation: "parse /proc/self/statm", message: "unexpected contents")
    }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Peeks at the datagram at the head of a UDP socket's kernel queue without consuming it,
/// waiting up to `timeoutMilliseconds` for one; returns its source, or nil when none came.
/// Runs on the loop thread (it blocks the loop for at most the timeout).
func peekQueuedSource(fd: Int32, timeoutMilliseconds: Int32 = 5_000) -> SocketAddress? {
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return nil }
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    var byte: UInt8 = 0
    return withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> SocketAddress? in
            let received = recvfrom(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT), sa, &length)
            return received >= 0 ? SocketAddress(sa) : nil
        }
    }
}

/// An error thrown by test code running on a loop thread, where `#require` has no test to report to.
struct LoopSideFailure: Error, CustomStringConvertible {
    let description: String
}

/// Unwraps `value` on a loop thread, or throws ``LoopSideFailure`` naming `what`; the error
/// travels back through ``EventLoop/submit(_:)`` and fails the awaiting test.
func required<T>(_ value: T?, _ what: String) throws(LoopSideFailure) -> T {
    guard let value else { throw LoopSideFailure(description: "missing: \(what)") }
    return value
}

// MARK: TCP helpers

/// What a ``Socket`` reported, copied off the loop thread.
enum StreamEvent: Sendable, Equatable, CustomStringConvertible {
    case connected
    case data(Int)
    case closed
    case failed(SocketError)

    var description: String {
        switch self {
        case .connected: "connected"
        case .data(let count): "data(\(count))"
        case .closed: "closed"
        case .failed(let error): "failed(\(error))"
        }
    }
}

extension Socket {
    /// Routes every event of this socket to `events`. Loop thread only.
    func report(to events: Inbox<StreamEvent>) {
        onConnect = { events.put(.connected) }
        onData = { events.put(.data($0)) }
        onClose = { events.put(.closed) }
        onIOError = { events.put(.failed($0)) }
    }
}

/// A connected client and the server's side of the same connection, on one loop.
struct TCPPair: Sendable {
    let listener: LoopBound<ServerSocket>
    let client: LoopBound<Socket>
    let server: LoopBound<Socket>
    let clientEvents: Inbox<StreamEvent>
    let serverEvents: Inbox<StreamEvent>
    let port: Int

    /// Listens on `address`:0, connects a client to `host` (default: `address`) and waits until
    /// both sides are up.
    static func connect(on loop: EventLoop, address: String = "127.0.0.1", host: String? = nil) async throws -> TCPPair {
        let clientEvents = Inbox<StreamEvent>()
        let serverEvents = Inbox<StreamEvent>()
        let accepted = Inbox<LoopBound<Socket>>()
        let (listener, client, port) = try await loop.submit {
            let listener = ServerSocket(loop: loop)
            try listener.bind(localPort: 0, localAddress: address)
            try listener.listen()
            listener.onConnect = { socket in
                socket.report(to: serverEvents)
                accepted.put(LoopBound(socket, loop: loop))
            }
            let client = Socket(loop: loop)
            client.report(to: clientEvents)
            try client.connect(host: host ?? address, port: listener.localPort)
            return (LoopBound(listener, loop: loop), LoopBound(client, loop: loop), listener.localPort)
        }
        let connected = try await clientEvents.next("the client's connect event")
        guard connected == .connected else { throw LoopSideFailure(description: "client reported \(connected) instead of connecting") }
        let server = try await accepted.next("the accepted connection")
        return TCPPair(listener: listener, client: client, server: server,
                       clientEvents: clientEvents, serverEvents: serverEvents, port: port)
    }
}

/// Waits until `count` bytes have arrived (see ``waitForBytes(_:events:_:)``), then takes them
/// from `socket`.
func receive(_ count: Int, from socket: LoopBound<Socket>, events: Inbox<StreamEvent>, _ what: String) async throws -> [UInt8] {
    try await waitForBytes(count, events: events, what)
    return try await socket.loop.submit {
        var input = socket.value
        return try input.readBytes(count)
    }
}

/// Waits for `.data` events on `events` until at least `count` bytes have arrived in total.
/// Fails on any other event.
func waitForBytes(_ count: Int, events: Inbox<StreamEvent>, _ what: String) async throws {
    var arrived = 0
    while arrived < count {
        let event = try await events.next("\(what): \(arrived) of \(count) bytes so far")
        guard case .data(let more) = event else {
            throw LoopSideFailure(description: "\(what): \(event) after \(arrived) of \(count) bytes")
        }
        arrived += more
    }
}

/// Writes `bytes` to `socket` and flushes.
func send(_ bytes: [UInt8], on socket: LoopBound<Socket>) async throws {
    try await socket.loop.submit {
        var output = socket.value
        output.writeBytes(bytes)
        output.flush()
    }
}

/// The ``SocketError`` that `body` throws, or nil when it returns normally; any other error is
/// reported as an `.io` error naming it, so a comparison with the expected code fails clearly.
func thrownError(_ body: () throws -> Void) -> SocketError? {
    do {
        try body()
        return nil
    } catch let error as SocketError {
        return error
    } catch {
        return SocketError(.io, operation: "unexpected error type", message: "\(error)")
    }
}

/// The code of the ``SocketError`` that `body` throws, or nil when it returns normally.
func thrownCode(_ body: () throws -> Void) -> SocketError.Code? {
    thrownError(body)?.code
}

extension DatagramSocket {
    /// Sends `payload` as one datagram (see ``send(_:to:)``).
    func send(_ payload: [UInt8], to destination: SocketAddress? = nil) throws {
        try payload.withUnsafeBytes { raw in try send(raw, to: destination) }
    }
}

// MARK: References to loop-bound objects

/// A reference to a loop-bound value, so a closure on the loop can fill it in later.
final class Box<Value>: @unchecked Sendable {
    // @unchecked: `_value` is touched only through `value`, which checks the loop thread.
    private var _value: Value
    let loop: EventLoop
    init(_ value: Value, loop: EventLoop) {
        loop.preconditionInEventLoop()
        _value = value
        self.loop = loop
    }
    var value: Value {
        get {
            loop.preconditionInEventLoop()
            return _value
        }
        set {
            loop.preconditionInEventLoop()
            _value = newValue
        }
    }
}

/// A weak reference to a loop-bound object, read on its loop's thread only.
final class WeakBox<Object: AnyObject>: @unchecked Sendable {
    // @unchecked: `_value` is read only through `value`, which checks the loop thread.
    private weak var _value: Object?
    let loop: EventLoop
    init(_ value: Object, loop: EventLoop) {
        loop.preconditionInEventLoop()
        _value = value
        self.loop = loop
    }
    var value: Object? {
        loop.preconditionInEventLoop()
        return _value
    }
    /// The referent, read from any thread once the loop's thread has exited (after
    /// ``EventLoop/shutdown()`` has returned), when nothing can touch it concurrently any more.
    var afterLoopExit: Object? { _value }
}
