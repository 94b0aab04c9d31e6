import FuzzTargets

/// libFuzzer's callback: one input through ``FuzzTarget/webSocketHandshake``, a crash on a broken invariant.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzEntry.run(data, size, .webSocketHandshake)
}

#if !FUZZING
/// Without libFuzzer (an ordinary build), replays the files or directories named on the command
/// line, so a crash input reproduces in a debugger: `FuzzWebSocketHandshake crash-<hash>`.
@main
enum Replay {
    static func main() {
        FuzzEntry.replayCommandLine(.webSocketHandshake)
    }
}
#endif
