public import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `log_format`: how log lines are written to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// journald when standard error is the journal (`$JOURNAL_STREAM` names it), text otherwise.
    case auto
    /// `2026-12-04 19:00:00 +0000 info squall: key=value [module] message`, swift-log's own.
    case text
    /// `<6>message key=value`: a syslog priority the journal reads as the line's level, and no
    /// timestamp (the journal stamps each line).
    case journald
    /// One JSON object per line: `{"time":...,"level":...,"message":...,"key":"value"}`.
    case json

    /// What `auto` means here: journald when standard error is the stream `$JOURNAL_STREAM`
    /// names (`DEVICE:INODE`, set by systemd for a unit whose output is the journal).
    public func resolved(environment: [String: String] = ProcessInfo.processInfo.environment, descriptor: CInt = 2) -> LogFormat {
        guard self == .auto else { return self }
        guard let stream = environment["JOURNAL_STREAM"] else { return .text }
        let parts = stream.split(separator: ":")
        var st = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(descriptor, &st) == 0 else {
            return .text
        }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode ? .journald : .text
    }
}

/// Writes journald or JSON lines to standard error, one `write` per line (so concurrent lines
/// never interleave). Text stays swift-log's `StreamLogHandler`.
public struct FormattedLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: LogFormat

    public init(label: String, format: LogFormat) { (self.label, self.format) = (label, format) }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let m = event.metadata { all.merge(m) { _, new in new } }
        let line = Self.line(
            format: format, level: event.level, message: "\(event.message)", metadata: all, label: label, source: event.source, time: Date()
        )
        let bytes = Array(line.utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// The syslog priority journald reads from a `<N>` prefix.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// One line, newline included.
    static func line(
        format: LogFormat, level: Logger.Level, message: String, metadata: Logger.Metadata, label: String, source: String, time: Date
    ) -> String {
        let keys = metadata.keys.sorted()
        switch format {
        case .json:
            var fields = [
                (
                    "time",
                    ISO8601DateFormatter.string(
                        from: time, timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
                ),
                ("level", level.rawValue), ("logger", label), ("source", source), ("message", message),
            ]
            // Metadata keys never replace the fixed fields.
            for k in keys where !["time", "level", "logger", "source", "message"].contains(k) { fields.append((k, "\(metadata[k]!)")) }
            return "{" + fields.map { JSONText.quoted($0.0) + ":" + JSONText.quoted($0.1) }.joined(separator: ",") + "}\n"
        case .journald, .auto, .text:
            // One physical line: a newline in a message would start a new journal entry.
            let text = ([message] + keys.map { "\($0)=\(metadata[$0]!)" }).joined(separator: " ")
            return "<\(priority(level))>" + text.replacingOccurrences(of: "\n", with: "\\n") + "\n"
        }
    }
}

/// `log_level` in force for every logger of the process: a reload changes it at once, for the
/// loggers made before it too. One relaxed atomic load per log call.
public final class LiveLogLevel: Sendable {
    public static let shared = LiveLogLevel()
    private let index = Atomic<Int>(Logger.Level.allCases.firstIndex(of: .info)!)

    public var level: Logger.Level {
        get { Logger.Level.allCases[index.load(ordering: .relaxed)] }
        set { index.store(Logger.Level.allCases.firstIndex(of: newValue)!, ordering: .relaxed) }
    }
}

/// A handler whose level is `LiveLogLevel`'s (setting `logLevel` on it is ignored); the lines
/// are `inner`'s.
public struct LiveLevelLogHandler: LogHandler {
    var inner: any LogHandler
    let live: LiveLogLevel

    public init(_ inner: any LogHandler, live: LiveLogLevel = .shared) {
        var inner = inner
        // The inner handler passes whatever reaches it: the level is decided here.
        inner.logLevel = .trace
        (self.inner, self.live) = (inner, live)
    }

    public var logLevel: Logger.Level {
        get { live.level }
        set {}
    }
    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    public var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }
    public func log(event: LogEvent) { inner.log(event: event) }
}
