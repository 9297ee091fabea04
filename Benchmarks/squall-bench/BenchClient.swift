#if canImport(Glibc)
    import Glibc
#endif

/// A blocking HTTP/1.1 client for preloading and verifying: keep-alive where the server allows
/// it, reconnecting when the server closes (opentracker closes after every reply).
final class BenchClient {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let host: String
    let port: Int
    private var fd: Int32 = -1
    private var pending: [UInt8] = []

    init(url: String) throws {
        // http://HOST:PORT/... or http://[V6]:PORT/...
        guard url.hasPrefix("http://") else { throw Failure(description: "only http:// URLs: \(url)") }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            port = Int(authority[authority.index(close, offsetBy: 2)...]) ?? 80
        } else {
            let parts = authority.split(separator: ":")
            host = String(parts[0])
            port = parts.count > 1 ? Int(parts[1]) ?? 80 : 80
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    private func connectIfNeeded() throws {
        guard fd < 0 else { return }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw Failure(description: "cannot resolve \(host)") }
        defer { freeaddrinfo(res) }
        fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            close(fd)
            fd = -1
            throw Failure(description: "cannot connect to \(host):\(port)")
        }
        pending = []
    }

    /// GET `target`; returns status and body. Retries once on a connection the server had closed.
    func get(_ target: String) throws -> (status: Int, body: [UInt8]) {
        for attempt in 0..<2 {
            try connectIfNeeded()
            let request = Array("GET \(target) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: squall-bench/1\r\n\r\n".utf8)
            let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent == request.count, let r = try? readResponse() { return r }
            close(fd)
            fd = -1
            if attempt == 1 { break }
        }
        throw Failure(description: "no response from \(host):\(port)")
    }

    private func fill() throws -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        guard n > 0 else { throw Failure(description: "recv: errno \(errno)") }
        pending += buf[..<n]
        return true
    }

    private func readResponse() throws -> (status: Int, body: [UInt8]) {
        var headEnd: Int?
        while headEnd == nil {
            if pending.count >= 4 {
                for i in 0...(pending.count - 4)
                where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
                    headEnd = i + 4
                    break
                }
            }
            if headEnd == nil { guard try fill() else { throw Failure(description: "closed before a response") } }
        }
        let head = String(decoding: pending[..<headEnd!], as: UTF8.self).lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        let lengthLine = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
        let length = lengthLine.flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: " ")) }
        let closes = head.contains("connection: close") || head.hasPrefix("http/1.0")
        pending.removeFirst(headEnd!)
        if let length {
            while pending.count < length { guard try fill() else { throw Failure(description: "closed inside a body") } }
            let body = Array(pending[..<length])
            pending.removeFirst(length)
            if closes { close(fd); fd = -1 }
            return (status, body)
        }
        while try fill() {}
        let body = pending
        close(fd)
        fd = -1
        return (status, body)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
