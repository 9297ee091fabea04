import TrackerCore

/// The startup check: a blocking connection, before serving (never on an event loop).
extension RedisPeerStore {
    /// Connects, authenticates, selects the database and pings, once: the startup check.
    /// Blocks the calling thread (use it before serving, never on an event loop).
    public static func check(_ options: RedisOptions) throws(RedisError) {
        if options.isCluster { return try checkCluster(options) }
        let c = try connect(options.endpoint, options)
        if options.database != 0 {
            if case .error(let message) = try c.command("SELECT", String(options.database)) {
                throw RedisError("\(options.redacted): cannot select database \(options.database): \(message)")
            }
        }
        guard try c.command("PING") == .status("PONG") else { throw RedisError("\(options.redacted): no PONG") }
        try checkLayout(c, options)
    }

    /// Refuses a Redis whose keys under the prefix are laid out for another Squall (records of
    /// another size would be misread): the layout is written the first time, and an older
    /// Squall's data, which has no layout key, is recognised by its index.
    static func checkLayout(_ c: BlockingRedisConnection, _ options: RedisOptions) throws(RedisError) {
        let keys = RedisKeys(prefix: options.prefix)
        let expected = RedisKeys.layout(users: options.users)
        let layout = Array(expected.utf8)
        let advice =
            "delete the keys under the prefix (redis-cli --scan --pattern '\(options.prefix)*' | xargs redis-cli del) or set redis.prefix to a new one"
        if try c.command([Array("SET".utf8), keys.layoutKey, layout, Array("NX".utf8)]) == .status("OK") {
            guard try c.command([Array("EXISTS".utf8), keys.index(0)]) == .integer(0) else {
                _ = try c.command([Array("DEL".utf8), keys.layoutKey])
                throw RedisError("\(options.redacted): the keys under \(options.prefix) hold an older Squall's swarms; \(advice)")
            }
            return
        }
        let held = try c.command([Array("GET".utf8), keys.layoutKey])
        guard held == .string(layout) else {
            let shown = held.bytes.map { String(decoding: $0.prefix(16), as: UTF8.self) } ?? "?"
            let other = RedisKeys.layout(users: !options.users)
            let why = shown == other ? " (\(options.users ? "an open" : "a private") tracker's peers)" : ""
            throw RedisError(
                "\(options.redacted): the keys under \(options.prefix) are in layout \(shown)\(why), not \(expected); \(advice)")
        }
    }

    /// A cluster: the first seed that answers must report `cluster_state:ok`.
    static func checkCluster(_ options: RedisOptions) throws(RedisError) {
        var last = RedisError("\(options.redacted): no seed")
        for seed in options.clusterSeeds {
            do throws(RedisError) {
                let c = try connect(seed, options)
                guard case .string(let info) = try c.command("CLUSTER", "INFO") else {
                    throw RedisError("\(options.redacted): \(seed) is not a Redis Cluster node")
                }
                let text = String(decoding: info, as: UTF8.self)
                guard text.contains("cluster_state:ok") else { throw RedisError("\(options.redacted): the cluster's state is not ok") }
                return
            } catch {
                last = error
            }
        }
        throw last
    }

    /// A blocking connection, authenticated.
    static func connect(_ endpoint: RedisEndpoint, _ options: RedisOptions) throws(RedisError) -> BlockingRedisConnection {
        let c = try BlockingRedisConnection(endpoint, timeout: options.connectTimeout)
        if let password = options.password {
            let auth = try c.command([Array("AUTH".utf8)] + (options.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
            if case .error(let message) = auth { throw RedisError("\(options.redacted): authentication failed: \(message)") }
        }
        return c
    }
}

extension RedisPeerStore {
    /// Private mode's registry keys under `prefix` (see `RedisKeys`).
    public static func registryKeys(prefix: String) -> (log: [UInt8], state: [UInt8]) { RedisKeys.registryKeys(prefix: prefix) }

    /// A blocking connection, authenticated and in the configured database, to the server that
    /// holds `key` (on a cluster, the master of its slot, found by following `MOVED`). For the
    /// work that blocks on purpose (private mode's registry feed), on a thread of its own.
    public static func blockingConnection(for key: [UInt8], _ options: RedisOptions, timeout: Duration) throws(RedisError)
        -> BlockingRedisConnection
    {
        var endpoint = options.isCluster ? options.clusterSeeds[0] : options.endpoint
        var seeds = options.clusterSeeds.dropFirst()
        for _ in 0..<8 {
            let c: BlockingRedisConnection
            do throws(RedisError) {
                c = try connect(endpoint, options)
            } catch {
                guard let next = seeds.popFirst() else { throw error }
                endpoint = next
                continue
            }
            try c.setTimeout(timeout)
            if !options.isCluster, options.database != 0 {
                if case .error(let message) = try c.command("SELECT", String(options.database)) {
                    throw RedisError("\(options.redacted): cannot select database \(options.database): \(message)")
                }
            }
            guard options.isCluster else { return c }
            let probe = try c.command([Array("EXISTS".utf8), key])
            guard case .error(let message) = probe, let redirect = Redirect(message) else { return c }
            endpoint = redirect.server
        }
        throw RedisError("\(options.redacted): too many redirections for \(String(decoding: key, as: UTF8.self))")
    }
}
