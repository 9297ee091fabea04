import Foundation

/// Debian's haproxy on loopback, one frontend forwarding to one server, for the proxy tests.
/// Stopped (and its directory removed) by `stop`.
struct HAProxy {
    let process: Process
    let dir: URL

    /// `mode` "http" adds `option forwardfor` (haproxy appends the client's address to
    /// `X-Forwarded-For`); `serverOptions` ends the server line (`send-proxy-v2`, `source ADDR`).
    init(mode: String, listen: (host: String, port: Int), server: (host: String, port: Int), serverOptions: String = "") throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("squall-haproxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = """
            global
                maxconn 64
            defaults
                mode \(mode)
            \(mode == "http" ? "    option forwardfor\n" : "")    timeout connect 5s
                timeout client 10s
                timeout server 10s
            frontend clients
                bind \(Self.literal(listen.host)):\(listen.port)
                default_backend tracker
            backend tracker
                server squall \(Self.literal(server.host)):\(server.port)\(serverOptions.isEmpty ? "" : " " + serverOptions)

            """
        let file = dir.appendingPathComponent("haproxy.cfg")
        try config.write(to: file, atomically: true, encoding: .utf8)
        process = try InteropTests.start("/usr/sbin/haproxy", ["-db", "-f", file.path])
    }

    func stop() {
        InteropTests.stop(process)
        try? FileManager.default.removeItem(at: dir)
    }

    /// An address as a URL or haproxy writes it: IPv6 in brackets.
    static func literal(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
