import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking HTTP/1.1 client over a real socket, for driving the server byte by byte.
public final class TestClient {
    public struct Response {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public let fd: Int32
    private var pending: [UInt8] = []

    /// `maxSegment` advertises a small TCP segment size, which keeps the server's send buffer
    /// small (Linux sizes it from the segment size), so that a large reply takes several writes.
    public init(host: String, port: Int, timeoutSeconds: Int = 10, maxSegment: Int32? = nil) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw Failure(description: "bad address \(host)") }
        defer { freeaddrinfo(res) }
        // The descriptor becomes `self.fd` only once connected: an initializer that throws after
        // every property is set still runs `deinit`, which would close it a second time (and a
        // second close may hit a descriptor the server under test has since been given).
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if var mss = maxSegment { setsockopt(fd, Int32(IPPROTO_TCP), TCP_MAXSEG, &mss, socklen_t(MemoryLayout<Int32>.size)) }
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let code = errno
            close(fd)
            throw Failure(description: "connect to \(host):\(port) failed: errno \(code)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            off += n
        }
    }
    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads more bytes; returns false at end of stream.
    private func fill() throws -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        guard n > 0 else { throw Failure(description: "recv failed or timed out: errno \(errno)") }
        pending += buf[..<n]
        return true
    }

    /// Reads one response (status line, headers, Content-Length body). `head` skips the body.
    public func readResponse(head: Bool = false) throws -> Response {
        var end: Int?
        while end == nil {
            if let r = findHeadEnd() { end = r; break }
            guard try fill() else { throw Failure(description: "connection closed before a response") }
        }
        let headText = String(decoding: pending[..<end!], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line") }
        let headers = lines.map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : "")
        }
        pending.removeFirst(end!)
        let length = head ? 0 : Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "0") ?? 0
        while pending.count < length {
            guard try fill() else { throw Failure(description: "connection closed inside a body") }
        }
        let body = Array(pending[..<length])
        pending.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    /// Waits for the server to close the connection; true if it did with no further bytes.
    public func closedByPeer() throws -> Bool {
        while true {
            guard try fill() else { return pending.isEmpty }
        }
    }

    /// Waits for the server to close or reset the connection without sending a byte; false if
    /// bytes came or the receive timeout passed first.
    public func closedOrResetWithoutReply() -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }

    private func findHeadEnd() -> Int? {
        guard pending.count >= 4 else { return nil }
        for i in 0...(pending.count - 4) where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// A keep-alive connection whose `GET /health` was answered 200, left open (it holds a place
    /// under the connection caps); throws otherwise.
    public static func answeredAndHeld(_ host: String, _ port: Int) throws -> TestClient {
        let c = try TestClient(host: host, port: port)
        try c.send("GET /health HTTP/1.1\r\n\r\n")
        let status = try c.readResponse().status
        guard status == 200 else { throw Failure(description: "GET /health answered \(status)") }
        return c
    }

    /// Whether a new connection that sends a request is closed at once, its request unread (a
    /// connection cap): the client sees an end or, with the request unread, a reset.
    public static func closedAtAccept(_ host: String, _ port: Int) throws -> Bool {
        let c = try TestClient(host: host, port: port)
        try? c.send("GET /health HTTP/1.1\r\n\r\n")
        do { return try c.closedByPeer() } catch { return "\(error)".contains("errno \(ECONNRESET)") }
    }

    /// Whether a fresh connection gets /health answered within about a second of tries: the
    /// place a closed connection held is given back asynchronously.
    public static func eventuallyServed(_ host: String, _ port: Int) async throws -> Bool {
        for _ in 0..<50 {
            let next = try TestClient(host: host, port: port)
            try? next.send("GET /health HTTP/1.1\r\n\r\n")
            if (try? next.readResponse().status) == 200 { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// One GET on a fresh connection.
    public static func get(_ host: String, _ port: Int, _ target: String, headers: [String] = []) throws -> Response {
        TestLogs.noteSecrets(in: target)
        let c = try TestClient(host: host, port: port)
        // A Host the statistics answer to by default (stats.hosts), unless the test sends its own.
        let host = headers.contains { $0.lowercased().hasPrefix("host:") } ? "" : "Host: localhost\r\n"
        try c.send("GET \(target) HTTP/1.1\r\n" + host + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        return try c.readResponse()
    }
}

/// Runs Debian's curl (`-sS --max-time 10` and `args`); returns its exit status and the body.
public func curl(_ args: [String]) throws -> (status: Int32, body: [UInt8]) {
    TestLogs.noteSecrets(in: args.joined(separator: " "))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    p.arguments = ["-sS", "--max-time", "10"] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, Array(data))
}
