/// Where a Redis server listens.
public enum RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

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
    /// Redis Cluster: the nodes to learn the slot map from (`endpoint` is the first). Empty for
    /// a single Redis.
    public var clusterSeeds: [RedisEndpoint] = []
    /// Peers carry a private tracker's user (private mode): their records are 4 bytes longer,
    /// in a layout of their own (`RedisKeys.layout(users:)`). Off: announces with a user fail.
    public var users = false
    public var isCluster: Bool { !clusterSeeds.isEmpty }

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

    /// Parses `redis://[user:password@]host:port[/db]` (IPv6 hosts in brackets),
    /// `unix:///path/redis.sock[?db=N]` or `redis+cluster://[user:password@]host:port[,host:port...]`.
    /// Nil when the URL is none of these.
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
        let cluster = url.hasPrefix("redis+cluster://")
        guard url.hasPrefix("redis://") || cluster else { return nil }
        var rest = url.dropFirst(cluster ? "redis+cluster://".count : "redis://".count)
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
        var endpoints: [RedisEndpoint] = []
        for hostPort in rest.split(separator: ",", omittingEmptySubsequences: false) {
            guard let e = Self.endpoint(hostPort) else { return nil }
            endpoints.append(e)
        }
        // A cluster has only database 0; a single Redis has one address.
        guard let first = endpoints.first, cluster ? db == 0 : endpoints.count == 1 else { return nil }
        self.init(endpoint: first, username: username, password: password, database: db)
        if cluster { clusterSeeds = endpoints }
    }

    private static func endpoint(_ hostPort: Substring) -> RedisEndpoint? {
        let host: Substring, portText: Substring
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            portText = after.hasPrefix(":") ? after.dropFirst() : "6379"
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
            portText = "6379"
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        return .tcp(host: String(host), port: port)
    }

    /// The URL without its password, for logs and error messages.
    public var redacted: String {
        let who = username.map { "\($0)@" } ?? ""
        if isCluster { return "redis+cluster://\(who)" + clusterSeeds.map(\.description).joined(separator: ",") }
        switch endpoint {
        case .tcp(let host, let port):
            let h = host.contains(":") ? "[\(host)]" : host
            return "redis://\(who)\(h):\(port)/\(database)"
        case .unix(let path):
            return "unix://\(path)?db=\(database)"
        }
    }
}
