import COpenSSL

/// A TLS failure, with OpenSSL's reasons drained from its error queue.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The one place OpenSSL's thread-local error queue is read. Call `clear()` before a checked
/// call and `error(_:)` after it fails, so no stale reason leaks into the next message.
enum OpenSSLErrors {
    static func clear() { ERR_clear_error() }

    /// `what`, followed by every queued OpenSSL reason; empties the queue.
    static func error(_ what: String) -> TLSError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "error:0A000086:SSL routines::certificate verify failed" -> the part after "::" or last ":".
            let reason = text.components(separatedBy: "::").last ?? text
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return TLSError(reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))")
    }
}

extension String {
    /// Splits on a separator string (Foundation-free).
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = self[...]
        while let r = rest.firstRange(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
