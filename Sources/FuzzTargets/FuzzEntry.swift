#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the fuzz executables share: the libFuzzer callback's body, and, in ordinary builds
/// without libFuzzer, a `main` that replays files so a crash input reproduces under a debugger.
public enum FuzzEntry {
    /// Runs one libFuzzer input, crashing on a broken invariant, as libFuzzer expects.
    ///
    /// - Parameters:
    ///   - data: The input; may be `nil` when `size` is 0.
    ///   - size: Its length in bytes.
    ///   - target: The target to run it through.
    /// - Returns: 0, the only value libFuzzer accepts for an input it may keep.
    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int, _ target: FuzzTarget) -> CInt {
        let input = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
        do {
            try target.run(input)
        } catch {
            fatalError("\(target.rawValue): \(error)")
        }
        return 0
    }

    /// Runs every file named in `paths` (a directory stands for the files in it) through
    /// `target`, printing one line per file.
    ///
    /// - Returns: The exit status: 0 when every file passed, 1 when one failed or was unreadable.
    public static func replay(_ paths: some Sequence<String>, _ target: FuzzTarget) -> Int32 {
        var status: Int32 = 0
        var count = 0
        for path in paths.flatMap(files(at:)) {
            count += 1
            guard let bytes = read(path) else {
                print("\(path): unreadable")
                status = 1
                continue
            }
            do {
                try target.run(bytes)
                print("\(path): ok (\(bytes.count) bytes)")
            } catch {
                print("\(path): \(error)")
                status = 1
            }
        }
        if count == 0 {
            print("usage: \(target.rawValue) FILE|DIRECTORY... (a build with -DFUZZING and -sanitize=fuzzer fuzzes instead)")
        }
        return status
    }

    /// Replays the files and directories named on the command line through `target`, then exits
    /// with ``replay(_:_:)``'s status: the `main` of a fuzz executable built without libFuzzer.
    public static func replayCommandLine(_ target: FuzzTarget) -> Never {
        exit(replay(CommandLine.arguments.dropFirst(), target))
    }

    /// `path` itself, or the regular files in it (not recursively) when it is a directory.
    static func files(at path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    /// The whole content of the file at `path`, or `nil` if it can't be read.
    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes += chunk[..<count]
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
