public import NIOCore

extension ListenAddress {
    /// The address a listener actually bound (with its real port when 0 was asked for).
    public init?(bound: SocketAddress) {
        guard let ip = bound.ipAddress, let port = bound.port else { return nil }
        self.init(host: ip, port: port)
    }
}

extension ListenAddress {
    /// Parses a list of listen addresses; the first bad one is an error naming `key`
    /// (a config key or a flag) and the expected `form`.
    static func parseList(_ texts: [String], key: String, form: String) throws(ConfigError) -> [ListenAddress] {
        try texts.map { (text) throws(ConfigError) in
            guard let a = ListenAddress(text) else { throw ConfigError(key: key, "'\(text)' is not \(form) or [V6]:PORT") }
            return a
        }
    }
}
