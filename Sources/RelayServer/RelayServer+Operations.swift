import RelayWire

extension RelayServer {
    /// Runs one control operation whose message, budget and fields already passed their checks,
    /// applying the state checks of PROTOCOL.md §1.2 in order. The reply is written before any
    /// event the operation causes.
    func perform(_ operation: ControlOperation, id: String?, for connection: ControlConnection) {
        func fail(_ code: ControlErrorCode, _ message: String) {
            connection.reply(ControlReply.failure(id: id, error: ControlError(code, message)))
        }
        switch operation {
        case .hello:
            connection.reply(ControlReply.success(id: id) { json in
                json.field("protocol", integer: 1)
                json.field("server", string: config.serverName)
                json.key("udp")
                json.beginObject()
                json.field("port", integer: udpPort)
                json.endObject()
                json.field("maxDatagram", integer: config.maxDatagram)
                json.field("idleTimeoutMs", integer: Self.wholeMilliseconds(config.idleTimeout))
                // No extension of PROTOCOL.md §6–§8 is offered yet, and no connection runs in TLS.
                json.key("features")
                json.beginArray()
                json.endArray()
                json.field("tls", bool: false)
            })

        case .create(let capacity):
            guard !isDraining else { return fail(.shuttingDown, "the relay is draining; no new sessions") }
            guard connection.liveSessions < config.maxSessionsPerConnection else {
                return fail(.rateLimited, "this connection already has \(config.maxSessionsPerConnection) live sessions")
            }
            let now = loop.nowNanos
            let source = connection.source
            let session = shared.withLock { registry -> Session? in
                if let limit = sources.sessionLimit(for: source, liveSessions: registry.sessions.count) {
                    refuse(limit)
                    return nil
                }
                return registry.createSession(capacity: capacity, creator: connection, source: source, nowNanos: now)
            }
            guard let session else {
                return fail(.rateLimited, "too many live sessions (\(config.maxSessions) in all, \(config.maxSessionsPerSource) per address)")
            }
            sources.sessionCreated(by: source, nowNanos: now)
            connection.sessionCreated()
            controlCounters.sessionsCreated &+= 1
            logger.debug("session created", metadata: ["session": "\(session.id.hex)", "capacity": "\(capacity)"])
            connection.reply(ControlReply.success(id: id) { json in
                json.field("session", string: session.id.hex)
                json.field("code", string: session.code.text)
                json.field("capacity", integer: capacity)
            })

        case .join(let target, let name):
            guard !isDraining else { return fail(.shuttingDown, "the relay is draining; no new joins") }
            guard connection.member == nil else { return fail(.alreadyJoined, "this connection is already a member of a session") }
            let now = loop.nowNanos
            let source = connection.source
            // Guessing codes or ids spends a budget per address, checked before the look-up.
            guard sources.mayLookUpJoin(from: source, nowNanos: now) else {
                refuse(.joinFailures)
                return fail(.rateLimited, "too many failed joins from this address (\(config.joinFailureRate) per second)")
            }
            let outcome = shared.withLock { registry -> Result<(Session, Member, [Member]), ControlError> in
                let found: Session?
                switch target {
                case .session(let text): found = registry.session(idText: text)
                case .code(let text): found = registry.session(code: text)
                }
                guard let session = found else { return .failure(ControlError(.notFound, "no such session")) }
                if let source, !session.mayJoin(from: source, nowNanos: now) {
                    return .failure(ControlError(.rateLimited, "too many joins into this session from this address (\(config.sessionJoinRate) per second)"))
                }
                guard !session.isFull else { return .failure(ControlError(.full, "the session is full")) }
                if let source { session.joined(from: source, rate: config.sessionJoinRate, burst: config.sessionJoinBurst, nowNanos: now) }
                let others = session.members
                let member = registry.join(session, name: name, connection: connection, config: config, nowNanos: now)
                return .success((session, member, others))
            }
            let session: Session, member: Member, others: [Member]
            switch outcome {
            case .success(let value): (session, member, others) = value
            case .failure(let error):
                switch error.code {
                case .notFound: sources.joinFailed(from: source, nowNanos: now)
                case .rateLimited: refuse(.sessionJoins)
                default: break
                }
                return fail(error.code, error.message)
            }
            let ownerID = shared.withLock { _ in session.ownerID }
            connection.member = member
            controlCounters.joins &+= 1
            connection.reply(ControlReply.success(id: id) { json in
                json.field("session", string: session.id.hex)
                json.field("member", integer: member.id)
                json.field("token", string: member.token.hex)
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
                json.field("owner", integer: ownerID ?? member.id)
            })
            let joined = ControlEvent.joined(member: member.id, name: name)
            for other in others { other.connection?.send(joined) }

        case .leave:
            guard let member = connection.member else { return fail(.notJoined, "this connection is not a member of a session") }
            connection.member = nil
            // Gone before the reply is written: the reply promises the effect.
            let removal = detachMember(member, reason: .leave)
            connection.reply(ControlReply.success(id: id) { _ in })
            announce(removal)

        case .kick(let memberID):
            guard let member = connection.member else { return fail(.notJoined, "this connection is not a member of a session") }
            guard memberID != member.id else { return fail(.badRequest, "a member can't kick itself; use leave") }
            let (isOwner, found) = shared.withLock { _ in (member.session.ownerID == member.id, member.session.member(id: memberID)) }
            guard isOwner else { return fail(.forbidden, "only the session owner may kick") }
            guard let target = found else { return fail(.notFound, "no member \(memberID) in this session") }
            let kicked = target.connection
            // Gone before the reply is written: the reply promises the effect.
            let removal = detachMember(target, reason: .kick)
            connection.reply(ControlReply.success(id: id) { _ in })
            kicked?.member = nil
            kicked?.send(ControlEvent.kicked)
            announce(removal)
            kicked?.linger()

        case .ping:
            connection.reply(ControlReply.success(id: id) { _ in })
        }
    }

    /// A duration in whole milliseconds, rounded up (the `idleTimeoutMs` of `hello`).
    static func wholeMilliseconds(_ duration: Duration) -> Int {
        Int((duration.nanoseconds + 999_999) / 1_000_000)
    }
}
