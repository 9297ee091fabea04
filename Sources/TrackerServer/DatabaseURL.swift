import Foundation

/// Where the site's MariaDB or MySQL database is (`private.database_url`):
/// `mysql://USER:PASSWORD@HOST:PORT/DB` (UNIT3D-Announce's `DATABASE_URL`, with its
/// `?socket=/path` for a unix socket) or `mysql+unix:///path/to/socket?db=DB&user=USER&password=PASSWORD`.
/// User and password may be percent-encoded. `description` never shows the password.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// A unix socket to connect through instead of host and port.
    public var socket: String?
    public var user: String
    public var password: String?
    public var database: String

    public init(host: String = "127.0.0.1", port: Int = 3306, socket: String? = nil, user: String, password: String?, database: String) {
        (self.host, self.port, self.socket, self.user, self.password, self.database) = (host, port, socket, user, password, database)
    }

    public init?(_ text: String) {
        if text.hasPrefix("mysql+unix://") {
            let rest = text.dropFirst("mysql+unix://".count)
            let (path, query) = Self.split(rest)
            guard path.hasPrefix("/"), path.count > 1, let db = query["db"], !db.isEmpty, let user = query["user"], !user.isEmpty else {
                return nil
            }
            self.init(host: "localhost", port: 0, socket: String(path), user: user, password: query["password"], database: db)
            return
        }
        guard text.hasPrefix("mysql://") || text.hasPrefix("mariadb://") else { return nil }
        let rest = text[text.range(of: "://")!.upperBound...]
        let (main, query) = Self.split(rest)
        guard let at = main.lastIndex(of: "@"), let slash = main[at...].firstIndex(of: "/") else { return nil }
        let credentials = main[..<at]
        let hostPort = main[main.index(after: at)..<slash]
        let db = String(main[main.index(after: slash)...])
        guard !db.isEmpty, !db.contains("/") else { return nil }
        let user: String
        var password: String?
        if let colon = credentials.firstIndex(of: ":") {
            guard let u = String(credentials[..<colon]).removingPercentEncoding,
                let p = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            else { return nil }
            (user, password) = (u, p)
        } else {
            guard let u = String(credentials).removingPercentEncoding else { return nil }
            user = u
        }
        guard !user.isEmpty else { return nil }
        var host = String(hostPort)
        var port = 3306
        if let address = ListenAddress(String(hostPort)) {
            (host, port) = (address.host, address.port)
        } else if host.contains(":") || host.isEmpty {
            return nil
        }
        guard port > 0 else { return nil }
        self.init(host: host, port: port, socket: query["socket"], user: user, password: password, database: db)
    }

    private static func split(_ s: Substring) -> (Substring, [String: String]) {
        guard let q = s.firstIndex(of: "?") else { return (s, [:]) }
        var out: [String: String] = [:]
        for pair in s[s.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2, let k = String(kv[0]).removingPercentEncoding, let v = String(kv[1]).removingPercentEncoding { out[k] = v }
        }
        return (s[..<q], out)
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let pw = password == nil ? "" : ":***"
        if let socket, port == 0 { return "mysql+unix://\(socket)?db=\(database)&user=\(user)\(password == nil ? "" : "&password=***")" }
        let h = host.contains(":") ? "[\(host)]" : host
        return "mysql://\(user)\(pw)@\(h):\(port)/\(database)" + (socket.map { "?socket=\($0)" } ?? "")
    }
}
