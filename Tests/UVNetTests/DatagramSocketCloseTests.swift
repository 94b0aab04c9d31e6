import Testing
import UVNet

@Suite struct DatagramSocketCloseTests {
    @Test func closeEventFiresOnceAfterTheHandleIsReleased() async throws {
        try await withLoop { loop in
            let events = Inbox<String>()
            try await loop.submit {
                let socket = DatagramSocket(loop: loop)
                try socket.bind(localPort: 0, localAddress: "127.0.0.1")
                socket.onClose = { events.put("close event") }
                socket.close { events.put("completion") }
                socket.close()
                // Nothing runs synchronously: libuv releases the handle on a later turn.
                events.put("after close()")
            }
            let order = try await events.next(3, "close() returning, then the completion and the event")
            #expect(order == ["after close()", "completion", "close event"])
            // A positive control through the same inbox: nothing else arrived in between.
            try await loop.submit { events.put("control") }
            #expect(try await events.next("the control") == "control")
        }
    }
}
