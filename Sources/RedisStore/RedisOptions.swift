/// How to reach Redis and how to use it, from `--storage redis://...` and the `[redis]` table.
public struct RedisOptions: Sendable, Equatable {
    public var endpoint: RedisEndpoint
    public var username: String?
    public var password: String?
    public var database: Int
    public var prefix: String
    /// Connections per event loop; commands are pipelined on each, so one is usually enough.
    public var connections: Int
    /// How long a command may wait for its reply.
    public var timeout: Duration
    /// How long a connection attempt may take.
    public var connectTimeout: Duration

    public init(
        endpoint: RedisEndpoint, username: String? = nil, password: String? = nil, database: Int = 0, prefix: String = "squall:",
        connections: Int = 1, timeout: Duration = .seconds(1), connectTimeout: Duration = .seconds(1)
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.prefix = prefix
        self.connections = connections
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// Parses `redis://[user:password@]host:port[/db]` (IPv6 hosts in brackets) or
    /// `unix:///path/redis.sock[?db=N]`. Nil when the URL is not of either form.
    public init?(url: String) {
        if url.hasPrefix("unix://") {
            let rest = url.dropFirst("unix://".count)
            let parts = rest.split(separator: "?", maxSplits: 1)
            guard let path = parts.first, path.hasPrefix("/") else { return nil }
            var db = 0
            if parts.count == 2 {
                guard parts[1].hasPrefix("db="), let n = Int(parts[1].dropFirst(3)), n >= 0 else { return nil }
                db = n
            }
            self.init(endpoint: .unix(path: String(path)), database: db)
            return
        }
        guard url.hasPrefix("redis://") else { return nil }
        var rest = url.dropFirst("redis://".count)
        var username: String?, password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : String(user)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        var db = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            if !dbText.isEmpty {
                guard let n = Int(dbText), n >= 0 else { return nil }
                db = n
            }
            rest = rest[..<slash]
        }
        let host: Substring, portText: Substring
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            portText = after.hasPrefix(":") ? after.dropFirst() : "6379"
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
            portText = "6379"
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        self.init(endpoint: .tcp(host: String(host), port: port), username: username, password: password, database: db)
    }

    /// The URL without its password, for logs and error messages.
    public var redacted: String {
        switch endpoint {
        case .tcp(let host, let port):
            let who = username.map { "\($0)@" } ?? ""
            let h = host.contains(":") ? "[\(host)]" : host
            return "redis://\(who)\(h):\(port)/\(database)"
        case .unix(let path):
            return "unix://\(path)?db=\(database)"
        }
    }
}
