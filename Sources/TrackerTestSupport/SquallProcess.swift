public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `squall` process whose log is read as it comes, for tests that wait on log lines.
public final class SquallProcess {
    /// The `squall` binary the tests run: `SQUALL_BINARY` (make stress: the release build), else
    /// the one built beside the test bundle.
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["SQUALL_BINARY"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("squall")
    }

    public let process = Process()
    private let err = Pipe()
    public private(set) var log = ""
    /// Where the log is copied for the suite's secret check (`TestLogs`).
    private let logName = TestLogs.nextProcessLog()

    /// `shellPrefix`, when given, runs the binary through bash after it (e.g. `ulimit` calls).
    /// `launcher`, when given, is run with `args` instead of the binary (which `args` then name,
    /// as `systemd-socket-activate` takes it).
    public init(_ args: [String], shellPrefix: String? = nil, environment: [String: String] = [:], launcher: String? = nil) throws {
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let launcher {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = args
        } else if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [
                "-c", shellPrefix + " && exec '\(Self.binary.path)' " + args.map { "'\($0)'" }.joined(separator: " "),
            ]
        } else {
            process.executableURL = Self.binary
            process.arguments = args
        }
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    /// Reads the log until it holds `text` (or the process ends); returns whether it did.
    @discardableResult
    public func waitFor(_ text: String) -> Bool {
        while !log.contains(text) {
            let chunk = err.fileHandleForReading.availableData
            guard !chunk.isEmpty else { return false }
            let text = String(decoding: chunk, as: UTF8.self)
            log += text
            TestLogs.append(text, to: logName)
        }
        return true
    }

    /// The server's "ready" line (at debug level and below, ServiceLifecycle's own lines name
    /// the ready metadata too).
    private var readyLine: Substring {
        let lines = log.split(separator: "\n")
        return lines.first { $0.hasSuffix("[TrackerServer] ready") } ?? lines.first { $0.contains(" ready") } ?? ""
    }

    /// The ports of the listeners in the "ready" line, by scheme.
    public func ports(_ scheme: String) -> [Int] {
        return readyLine.split(separator: " ").compactMap { word -> Int? in
            guard word.hasPrefix("\(scheme)://") || word.hasPrefix("announce=\(scheme)://"),
                word.hasSuffix("/announce"), let colon = word.dropLast("/announce".count).lastIndex(of: ":")
            else { return nil }
            return Int(word[word.index(after: colon)...].prefix { $0.isNumber })
        }
    }

    /// The site API's port from the "ready" line (`admin=HOST:PORT`), in private mode.
    public var adminPort: Int? {
        guard let word = readyLine.split(separator: " ").first(where: { $0.hasPrefix("admin=") }), let colon = word.lastIndex(of: ":")
        else {
            return nil
        }
        return Int(word[word.index(after: colon)...].prefix { $0.isNumber })
    }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    public func stop() -> Int32 {
        process.terminate()
        _ = waitFor("\u{0}never")
        process.waitUntilExit()
        return process.terminationStatus
    }
}
