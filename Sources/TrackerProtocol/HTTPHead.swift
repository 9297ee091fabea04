import TrackerCore

/// The request line and the headers Squall acts on. Everything else in the head is skipped.
public struct HTTPRequestHead: Sendable, Equatable {
    public enum Method: Sendable, Equatable {
        case get, head, other
    }
    public var method: Method
    /// The request target as sent (`/announce?info_hash=...`), undecoded.
    public var target: [UInt8]
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Whether the connection stays open after the reply (version default, then `Connection`).
    public var keepAlive: Bool
    /// Body bytes announced by `Content-Length` (0 when absent).
    public var contentLength: Int
    /// `Transfer-Encoding` was present: a body of unknown length follows.
    public var hasTransferEncoding: Bool
    /// The `Authorization` value (for the statistics' bearer token), when sent.
    public var authorization: [UInt8]? = nil
    /// The `Host` value (for the statistics' DNS-rebinding rule), when sent; not kept for
    /// `/announce` and `/scrape`, which do not look at it.
    public var host: [UInt8]? = nil
    /// The `User-Agent` value, kept only when the parser is asked for client headers (a
    /// private tracker's rules read it).
    public var userAgent: [UInt8]? = nil
    /// Whether the head carried `Accept-Language`, `Referer` or `Accept-Charset` (browser
    /// headers, which a private tracker refuses); read only with client headers.
    public var hasBrowserHeaders = false
    /// The `X-Forwarded-For` values (several header lines joined by commas, in order), kept
    /// only when the parser is asked for forwarding headers (`trusted_proxies` is set).
    public var forwardedFor: [UInt8]? = nil
    /// The `X-Real-IP` value, kept only with forwarding headers.
    public var realIP: [UInt8]? = nil

    /// The path part of the target, before any `?`.
    public var path: ArraySlice<UInt8> {
        target[..<(target.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)]
    }
    /// The query part of the target, after the first `?` (empty when there is none).
    public var query: ArraySlice<UInt8> {
        guard let q = target.firstIndex(of: UInt8(ascii: "?")) else { return [] }
        return target[(q + 1)...]
    }
}

/// Why a request head was refused.
public enum HTTPHeadError: Error, Sendable, Equatable {
    /// Not HTTP/1.x syntax: answered with 400.
    case malformed
    /// The head did not end within the limit: answered with 431.
    case tooLarge
    /// An HTTP version other than 1.0 or 1.1: answered with 505.
    case unsupportedVersion
}

/// A parser for HTTP/1.x request heads, for a server whose routes are a few GETs.
///
/// It is a pure function of the bytes received so far: call it again with more bytes until it
/// stops answering `.incomplete`. Lines may end in CRLF or a bare LF (RFC 9112 section 2.2).
public enum HTTPHeadParser {
    public enum Outcome: Equatable, Sendable {
        case incomplete
        case head(HTTPRequestHead, consumed: Int)
        case failure(HTTPHeadError)
    }

    /// `clientHeaders`: also keep `User-Agent` and note browser headers (private mode only, so
    /// an open tracker's announces copy nothing more). `forwardingHeaders`: also keep
    /// `X-Forwarded-For` and `X-Real-IP` (only when some proxy is trusted to send them).
    public static func parse(
        _ buf: UnsafeRawBufferPointer, maxHeadBytes: Int, clientHeaders: Bool = false, forwardingHeaders: Bool = false
    ) -> Outcome {
        // Skip empty lines before a request line (RFC 9112 section 2.2 allows at least one).
        var start = 0
        while start < buf.count, buf[start] == UInt8(ascii: "\r") || buf[start] == UInt8(ascii: "\n") {
            start += 1
            if start > 4 { return .failure(.malformed) }
        }
        // Find the end of the head: an empty line.
        var end = -1
        var i = start
        let limit = min(buf.count, start + maxHeadBytes)
        while i < limit {
            if buf[i] == UInt8(ascii: "\n") {
                if i + 1 < buf.count, buf[i + 1] == UInt8(ascii: "\n") { end = i + 2; break }
                if i + 2 < buf.count, buf[i + 1] == UInt8(ascii: "\r"), buf[i + 2] == UInt8(ascii: "\n") { end = i + 3; break }
            }
            i += 1
        }
        if end < 0 {
            return buf.count - start >= maxHeadBytes ? .failure(.tooLarge) : .incomplete
        }
        if end - start > maxHeadBytes { return .failure(.tooLarge) }

        var lines = LineReader(buf: buf, position: start, end: end)
        guard let requestLine = lines.next() else { return .failure(.malformed) }
        guard case .some(let parsed) = parseRequestLine(requestLine) else { return .failure(.malformed) }
        guard parsed.version == 0 || parsed.version == 1 else { return .failure(.unsupportedVersion) }

        var head = HTTPRequestHead(
            method: parsed.method, target: parsed.target, minorVersion: parsed.version,
            keepAlive: parsed.version == 1, contentLength: 0, hasTransferEncoding: false
        )
        var sawContentLength = false
        // Only routes that answer browsers look at the Host (the statistics' DNS-rebinding
        // rule), so announces and scrapes, the hot path, skip copying it.
        let wantsHost = !parsed.target.starts(with: "/announce".utf8) && !parsed.target.starts(with: "/scrape".utf8)
        while let line = lines.next() {
            if line.isEmpty { break }
            // One pass to the colon; a space or tab before it is forbidden (request smuggling vector).
            var colon = line.startIndex
            while colon < line.endIndex, line[colon] != UInt8(ascii: ":") {
                if line[colon] == UInt8(ascii: " ") || line[colon] == UInt8(ascii: "\t") { return .failure(.malformed) }
                colon += 1
            }
            guard colon < line.endIndex, colon > line.startIndex else { return .failure(.malformed) }
            let name = UnsafeRawBufferPointer(rebasing: line[line.startIndex..<colon])
            let value = trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...]))
            if asciiCaseEquals(name, "connection") {
                if containsToken(value, "close") {
                    head.keepAlive = false
                } else if containsToken(value, "keep-alive") {
                    head.keepAlive = true
                }
            } else if asciiCaseEquals(name, "content-length") {
                guard let n = decimal(value), n <= Int.max, !sawContentLength || n == head.contentLength else {
                    return .failure(.malformed)
                }
                sawContentLength = true
                head.contentLength = Int(n)
            } else if asciiCaseEquals(name, "transfer-encoding") {
                head.hasTransferEncoding = true
            } else if wantsHost, asciiCaseEquals(name, "host") {
                head.host = Array(value)
            } else if asciiCaseEquals(name, "authorization") {
                head.authorization = Array(value)
            } else if forwardingHeaders, asciiCaseEquals(name, "x-forwarded-for") {
                if head.forwardedFor == nil {
                    head.forwardedFor = Array(value)
                } else {
                    head.forwardedFor!.append(UInt8(ascii: ","))
                    head.forwardedFor!.append(contentsOf: value)
                }
            } else if forwardingHeaders, asciiCaseEquals(name, "x-real-ip") {
                head.realIP = Array(value)
            } else if clientHeaders {
                if asciiCaseEquals(name, "user-agent") {
                    head.userAgent = Array(value)
                } else if asciiCaseEquals(name, "accept-language") || asciiCaseEquals(name, "referer")
                    || asciiCaseEquals(name, "accept-charset")
                {
                    head.hasBrowserHeaders = true
                }
            }
        }
        if head.hasTransferEncoding && sawContentLength { return .failure(.malformed) }
        return .head(head, consumed: end)
    }

    private struct RequestLine {
        var method: HTTPRequestHead.Method
        var target: [UInt8]
        var version: Int
    }

    /// `METHOD SP TARGET SP HTTP/x.y`, each part checked in the one pass that finds its end: the
    /// target is most of a tracker's request.
    private static func parseRequestLine(_ line: Slice<UnsafeRawBufferPointer>) -> RequestLine? {
        var sp1 = line.startIndex
        while sp1 < line.endIndex, line[sp1] != UInt8(ascii: " ") {
            guard line[sp1] > 0x20, line[sp1] < 0x7F else { return nil }
            sp1 += 1
        }
        guard sp1 < line.endIndex, sp1 > line.startIndex else { return nil }
        var sp2 = sp1 + 1
        while sp2 < line.endIndex, line[sp2] != UInt8(ascii: " ") {
            guard line[sp2] > 0x20, line[sp2] != 0x7F else { return nil }
            sp2 += 1
        }
        guard sp2 < line.endIndex, sp2 > sp1 + 1 else { return nil }
        let methodBytes = UnsafeRawBufferPointer(rebasing: line[line.startIndex..<sp1])
        let target = line[(sp1 + 1)..<sp2]
        let version = UnsafeRawBufferPointer(rebasing: line[(sp2 + 1)...])
        guard version.count == 8, version[0] == UInt8(ascii: "H"), version[1] == UInt8(ascii: "T"),
            version[2] == UInt8(ascii: "T"), version[3] == UInt8(ascii: "P"), version[4] == UInt8(ascii: "/"),
            version[6] == UInt8(ascii: "."),
            let major = hexDigitValue(version[5]), major < 10, let minor = hexDigitValue(version[7]), minor < 10
        else { return nil }
        let method: HTTPRequestHead.Method =
            methodBytes.equals("GET") ? .get : methodBytes.equals("HEAD") ? .head : .other
        return RequestLine(method: method, target: Array(target), version: major == 1 ? Int(minor) : 100 + Int(major))
    }

    private struct LineReader {
        let buf: UnsafeRawBufferPointer
        var position: Int
        let end: Int
        mutating func next() -> Slice<UnsafeRawBufferPointer>? {
            guard position < end else { return nil }
            var i = position
            while i < end, buf[i] != UInt8(ascii: "\n") { i += 1 }
            var lineEnd = i
            if lineEnd > position, buf[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = buf[position..<lineEnd]
            position = i + 1
            return line
        }
    }

    private static func trimmed(_ v: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var s = 0, e = v.count
        while s < e, v[s] == UInt8(ascii: " ") || v[s] == UInt8(ascii: "\t") { s += 1 }
        while e > s, v[e - 1] == UInt8(ascii: " ") || v[e - 1] == UInt8(ascii: "\t") { e -= 1 }
        return UnsafeRawBufferPointer(rebasing: v[s..<e])
    }

    private static func asciiCaseEquals(_ a: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard a.count == lower.utf8CodeUnitCount else { return false }
        for i in 0..<a.count where a[i] | 0x20 != lower.utf8Start[i] | 0x20 { return false }
        return true
    }

    /// Whether a comma-separated header value holds `token` (case-insensitive).
    private static func containsToken(_ value: UnsafeRawBufferPointer, _ token: StaticString) -> Bool {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count, value[end] != UInt8(ascii: ",") { end += 1 }
            if asciiCaseEquals(trimmed(UnsafeRawBufferPointer(rebasing: value[start..<end])), token) { return true }
            start = end + 1
        }
        return false
    }
}

/// HTTP/1.1 status reason phrases.
public enum HTTPReasonPhrase {
    public static func of(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }

}
