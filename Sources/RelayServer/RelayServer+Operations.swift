import Logging
import RelayWire
import UVNet

extension RelayServer {
    /// Runs one control operation whose message, budget and fields already passed their checks,
    /// applying the state checks of PROTOCOL.md §1.2 in order. The reply is written before any
    /// event the operation causes.
    func perform(_ operation: ControlOperation, id: String?, for connection: ControlConnection) {
        func fail(_ code: ControlErrorCode, _ message: String) {
            logger.debug("request refused", metadata: ["peer": "\(connection.peer)", "op": "\(operation.name)",
                                                       "code": "\(code)", "message": "\(message)"])
            connection.reply(ControlReply.failure(id: id, error: ControlError(code, message)))
        }
        switch operation {
        case .hello:
            connection.reply(ControlReply.success(id: id) { json in
                json.field("protocol", integer: 1)
                json.field("server", string: config.serverName)
                json.key("udp")
                json.beginObject()
                json.field("port", integer: advertisedUDPPort)
                json.endObject()
                json.field("maxDatagram", integer: config.maxDatagram)
                json.field("idleTimeoutMs", integer: Self.wholeMilliseconds(config.idleTimeout))
                json.key("features")
                json.beginArray()
                for feature in features { json.string(feature) }
                json.endArray()
                json.field("tls", bool: connection.isTLS)
            })

        case .create(let capacity, let tick):
            guard !isDraining else { return fail(.shuttingDown, "the relay is draining; no new sessions") }
            guard connection.liveSessions < config.maxSessionsPerConnection else {
                return fail(.rateLimited, "this connection already has \(config.maxSessionsPerConnection) live sessions")
            }
            let now = loop.now
            let source = connection.source
            if let limit = sources.sessionLimit(for: source, liveSessions: directory.count) {
                refuse(limit)
                return fail(.rateLimited, "too many live sessions (\(config.maxSessions) in all, \(config.maxSessionsPerSource) per address)")
            }
            let session = directory.create(creator: connection, source: source)
            // The owner learns of the session before any join for it: messages to a loop keep their order.
            let (sessionID, code) = (session.id, session.code)
            onOwner(session.owner) { $0.createSession(id: sessionID, code: code, capacity: capacity, tick: tick) }
            sources.sessionCreated(by: source, nowNanos: now)
            connection.sessionCreated()
            controlCounters.sessionsCreated &+= 1
            var created: Logger.Metadata = ["session": "\(session.id.hex)", "capacity": .stringConvertible(capacity),
                                            "loop": .stringConvertible(session.owner + 1), "peer": "\(connection.peer)"]
            if let tick { created["tick"] = .stringConvertible(tick) }
            logger.info("session created", metadata: created)
            connection.reply(ControlReply.success(id: id) { json in
                json.field("session", string: session.id.hex)
                json.field("code", string: session.code.text)
                json.field("capacity", integer: capacity)
                if let tick { json.field("tick", integer: tick) }
            })

        case .join(let target, let name):
            guard !isDraining else { return fail(.shuttingDown, "the relay is draining; no new joins") }
            guard connection.member == nil else { return fail(.alreadyJoined, "this connection is already a member of a session") }
            let now = loop.now
            let source = connection.source
            // Guessing codes or ids spends a budget per address, checked before the look-up.
            guard sources.mayLookUpJoin(from: source, nowNanos: now) else {
                refuse(.joinFailures)
                return fail(.rateLimited, "too many failed joins from this address (\(config.joinFailureRate) per second)")
            }
            guard let session = directory.find(target) else {
                sources.joinFailed(from: source, nowNanos: now)
                return fail(.notFound, "no such session")
            }
            let (sessionID, owner, token, connectionID) = (session.id, session.owner, directory.newToken(), connection.id)
            let isStream = connection.isWebSocket
            connection.awaitOwner()
            onOwner(owner, { plane in
                plane.join(session: sessionID, name: name, token: token, connection: connectionID, source: source, isStream: isStream)
            }, then: { server, answer in
                server.joinAnswered(answer, id: id, connection: connectionID, session: sessionID, owner: owner,
                                    name: name, token: token, source: source, at: now)
            })

        case .leave:
            guard let member = connection.member else { return fail(.notJoined, "this connection is not a member of a session") }
            connection.member = nil
            controlCounters.leaves &+= 1
            let connectionID = connection.id
            // The reply waits for the owner, so it promises the effect: a datagram sent after it
            // finds the member gone, and no event for the member follows it.
            connection.awaitOwner()
            onOwner(member.owner, { $0.leave(member, reason: .leave) }, then: { server, removal in
                server.connection(connectionID)?.ownerAnswered(ControlReply.success(id: id) { _ in })
                if let removal { server.announce(removal) }
            })

        case .kick(let memberID):
            guard let member = connection.member else { return fail(.notJoined, "this connection is not a member of a session") }
            guard memberID != member.member else { return fail(.badRequest, "a member can't kick itself; use leave") }
            let connectionID = connection.id
            connection.awaitOwner()
            onOwner(member.owner, { $0.kick(memberID, by: member) }, then: { server, answer in
                server.kickAnswered(answer, id: id, connection: connectionID)
            })

        case .ping:
            connection.reply(ControlReply.success(id: id) { _ in })
        }
    }

    /// Finishes a `join` when the owner has answered: the reply, then `joined` to the others. A
    /// connection that closed meanwhile leaves again at once (the others hear `joined`, then `left`).
    private func joinAnswered(_ answer: JoinAnswer, id: String?, connection connectionID: ConnectionID, session: SessionID,
                              owner: Int, name: String, token: MemberToken, source: SocketAddress?, at now: UInt64) {
        let connection = self.connection(connectionID)
        switch answer {
        case .refused(let error):
            switch error.code {
            case .notFound: sources.joinFailed(from: source, nowNanos: now)
            case .rateLimited: refuse(.sessionJoins)
            default: break
            }
            logger.debug("request refused", metadata: ["peer": "\(connection?.peer ?? "?")", "op": "join", "session": "\(session.hex)",
                                                       "code": "\(error.code)", "message": "\(error.message)"])
            connection?.ownerAnswered(ControlReply.failure(id: id, error: error))
        case .joined(let member, let others, let ownerID):
            controlCounters.joins &+= 1
            let ref = MembershipRef(session: session, member: member, owner: owner)
            logger.info("member joined", metadata: ["session": "\(session.hex)", "member": .stringConvertible(member),
                                                    "peer": "\(connection?.peer ?? "?")"])
            let udpPort = advertisedUDPPort
            let open = connection?.state == .open
            if let connection, open {
                connection.member = ref
                connection.ownerAnswered(ControlReply.success(id: id) { json in
                    json.field("session", string: session.hex)
                    json.field("member", integer: member)
                    json.field("token", string: token.hex)
                    json.key("udp")
                    json.beginObject()
                    json.field("port", integer: udpPort)
                    json.endObject()
                    json.key("members")
                    json.beginArray()
                    for other in others {
                        json.beginObject()
                        json.field("member", integer: other.id)
                        json.field("name", string: other.name)
                        json.endObject()
                    }
                    json.endArray()
                    json.field("owner", integer: ownerID)
                })
                // Bound to its WebSocket at the join (PROTOCOL.md §7): `bound` follows the reply.
                if connection.isWebSocket, let address = connection.socket.remoteSocketAddress {
                    connection.send(ControlEvent.bound(address: address.description))
                }
            }
            let joined = ControlEvent.joined(member: member, name: name)
            for other in others { self.connection(other.connection)?.send(joined) }
            if !open { removeMember(ref, reason: .disconnect) }
        }
    }

    /// Finishes a `kick` when the owner has answered: the reply, `kicked` to the target, then
    /// `left` (and `owner`) to the rest; the target's connection then closes.
    private func kickAnswered(_ answer: KickAnswer, id: String?, connection connectionID: ConnectionID) {
        let connection = self.connection(connectionID)
        switch answer {
        case .refused(let error):
            logger.debug("request refused", metadata: ["peer": "\(connection?.peer ?? "?")", "op": "kick",
                                                       "code": "\(error.code)", "message": "\(error.message)"])
            connection?.ownerAnswered(ControlReply.failure(id: id, error: error))
        case .kicked(let target, let removal):
            logger.info("member kicked", metadata: ["session": "\(removal.session.hex)", "member": .stringConvertible(removal.member),
                                                    "by": "\(connection?.peer ?? "?")"])
            controlCounters.leaves &+= 1
            connection?.ownerAnswered(ControlReply.success(id: id) { _ in })
            let kicked = self.connection(target)
            kicked?.member = nil
            kicked?.send(ControlEvent.kicked)
            announce(removal)
            kicked?.linger()
        }
    }

    /// A duration in whole milliseconds, rounded up (the `idleTimeoutMs` of `hello`).
    static func wholeMilliseconds(_ duration: Duration) -> Int {
        Int((duration.nanoseconds + 999_999) / 1_000_000)
    }
}

extension ControlOperation {
    /// The `op` text of the request, for log lines.
    var name: String {
        switch self {
        case .hello: "hello"
        case .create: "create"
        case .join: "join"
        case .leave: "leave"
        case .kick: "kick"
        case .ping: "ping"
        }
    }
}
