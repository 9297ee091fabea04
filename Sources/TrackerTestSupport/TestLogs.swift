import Foundation
public import Logging

/// Every log of the suite, and every secret the suite used, for the check that no passkey or key
/// reaches a log (`make test` runs `Tests/check-secrets` after the suite).
///
/// With `SQUALL_TEST_LOG_DIR` set (`make test` sets it), in-process trackers log at trace into
/// `inprocess-PID.log` there, each `squall` process's log is copied to `process-PID-N.log`,
/// and the secrets the helpers send (passkeys and API keys in announce and API paths, JSON
/// bodies and SQL) are appended to `secrets.txt`. Without it nothing is written.
public enum TestLogs {
    public static let directory: String? = {
        guard let dir = ProcessInfo.processInfo.environment["SQUALL_TEST_LOG_DIR"], !dir.isEmpty else { return nil }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var files: [String: FileHandle] = [:]
    nonisolated(unsafe) private static var secrets: Set<String> = []
    nonisolated(unsafe) private static var processLogs = 0

    /// Appends `text` to the named file of the log directory (if there is one).
    static func append(_ text: String, to name: String) {
        guard let directory else { return }
        lock.lock()
        defer { lock.unlock() }
        let handle: FileHandle
        if let h = files[name] {
            handle = h
        } else {
            let path = directory + "/" + name
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard let h = FileHandle(forWritingAtPath: path) else { return }
            h.seekToEndOfFile()
            files[name] = h
            handle = h
        }
        handle.write(Data(text.utf8))
    }

    /// A name for the next `squall` process's log.
    static func nextProcessLog() -> String {
        lock.lock()
        defer { lock.unlock() }
        processLogs += 1
        return "process-\(getpid())-\(processLogs).log"
    }

    /// Notes a secret the suite used (a passkey, a key, a password), once.
    public static func noteSecret(_ secret: String) {
        guard directory != nil, secret.utf8.count >= 8 else { return }
        lock.lock()
        let new = secrets.insert(secret).inserted
        lock.unlock()
        if new { append(secret + "\n", to: "secrets.txt") }
    }

    /// Notes the secrets in text a test sends: path segments of 32 bytes or more after
    /// `/announce/` or before `/announce` (passkeys, the API key), `passkey=` values, JSON
    /// `passkey` and `new_passkey` strings, and 32-character quoted strings (SQL rows).
    public static func noteSecrets(in text: String) {
        guard directory != nil else { return }
        let delimiters = CharacterSet(charactersIn: "/?&\"' \r\n,;()=:")
        let words = text.components(separatedBy: delimiters).filter { $0.utf8.count >= 32 }
        for word in words where word.utf8.count == 32 || text.contains("/announce/" + word) || text.contains(word + "/announce") {
            noteSecret(word)
        }
    }

    /// The logger an in-process tracker gets: at `level` into the log directory when there is
    /// one, else only critical lines.
    public static func logger(label: String = "test", level: Logger.Level = .trace) -> Logger {
        guard directory != nil else {
            var logger = Logger(label: label)
            logger.logLevel = .critical
            return logger
        }
        var logger = Logger(label: label) { FileLogHandler(label: $0, file: "inprocess-\(getpid()).log") }
        logger.logLevel = level
        return logger
    }

    /// Lines in swift-log's stream format, into a file of the log directory.
    struct FileLogHandler: LogHandler {
        let label: String
        let file: String
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            append("\(Date()) \(event.level) \(label):\(fields.isEmpty ? "" : " " + fields) [\(event.source)] \(event.message)\n", to: file)
        }
    }
}
