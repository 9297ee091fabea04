/// An address and port to listen on, as written in config and flags: `0.0.0.0:6969`,
/// `[::]:6969` (one dual-stack socket for IPv4 and IPv6), `[::1]:6969`, `127.0.0.1:0`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Connections here start with a PROXY protocol header (v1 or v2) naming the client, sent
    /// by a trusted proxy (`{ address = "...", proxy_protocol = true }` in `http.listen` or
    /// `https.listen`).
    public var proxyProtocol = false

    public init(host: String, port: Int, proxyProtocol: Bool = false) {
        (self.host, self.port, self.proxyProtocol) = (host, port, proxyProtocol)
    }

    /// Parses `HOST:PORT` or `[V6]:PORT`; nil when it is not of that form.
    public init?(_ text: String) {
        var hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
            guard hostPart.contains(":") else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.contains(":") else { return nil }
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port),
            portPart.allSatisfy(\.isNumber)
        else { return nil }
        host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
