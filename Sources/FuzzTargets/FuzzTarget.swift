/// The fuzz targets, by the names of their executables and corpus folders
/// (`Fuzz/Corpus/<name>`), so the entry points, the scripts and the replay tests agree.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// ``fuzzDatagram(_:)``: classifying data-channel datagrams.
    case datagram = "FuzzDatagram"
    /// ``fuzzBind(_:)``: BIND, cookies and forwarding in a socket-free data plane.
    case bind = "FuzzBind"
    /// ``fuzzControl(_:)``: control-channel framing, requests and strict JSON.
    case control = "FuzzControl"
    /// ``fuzzHTTPHead(_:)``: the operator endpoint's HTTP request head.
    case httpHead = "FuzzHTTPHead"
    /// ``fuzzTLSHandshake(_:)``: the server side of the control port's TLS handshake.
    case tlsHandshake = "FuzzTLSHandshake"
    /// ``fuzzTLSClientHandshake(_:)``: a client validating a server's handshake altered on the way.
    case tlsClientHandshake = "FuzzTLSClientHandshake"
    /// ``fuzzAggregate(_:)``: reading and splitting AGGREGATE datagrams of tick sessions.
    case aggregate = "FuzzAggregate"
    /// ``fuzzHTTPResponse(_:)``: the Agones SDK gateway's HTTP answers.
    case httpResponse = "FuzzHTTPResponse"
    /// ``fuzzWebSocketFrames(_:)``: reading and writing WebSocket frames for browser members.
    case webSocketFrames = "FuzzWebSocketFrames"
    /// ``fuzzWebSocketHandshake(_:)``: the relay's answer to a WebSocket upgrade request.
    case webSocketHandshake = "FuzzWebSocketHandshake"

    /// Runs one input through the target's checks.
    ///
    /// - Throws: ``FuzzFailure`` when an invariant does not hold.
    public func run(_ input: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .datagram: try fuzzDatagram(input)
        case .bind: _ = try fuzzBind(input)
        case .control: try fuzzControl(input)
        case .httpHead: try fuzzHTTPHead(input)
        case .tlsHandshake: try fuzzTLSHandshake(input)
        case .tlsClientHandshake: try fuzzTLSClientHandshake(input)
        case .aggregate: try fuzzAggregate(input)
        case .httpResponse: try fuzzHTTPResponse(input)
        case .webSocketFrames: try fuzzWebSocketFrames(input)
        case .webSocketHandshake: try fuzzWebSocketHandshake(input)
        }
    }
}
