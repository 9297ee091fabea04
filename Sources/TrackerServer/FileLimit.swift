#if canImport(Glibc)
    import Glibc
#endif

/// The process's open-file limit (RLIMIT_NOFILE), raised at startup for the connections Squall
/// is configured to hold. systemd and most shells start services with a soft limit of 1024,
/// which would stop accepting near 1,000 connections and leave Redis no descriptor to
/// reconnect with; the hard limit is usually far higher and needs no privilege to reach.
public enum FileLimit {
    /// Raises the soft limit to the hard limit; returns the soft limit now in force (nil when
    /// it cannot be read).
    @discardableResult
    public static func raiseToHard() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Descriptors Squall uses besides client connections: listeners, each event loop's epoll,
    /// eventfd and timerfd, Redis connections (several per loop under Redis Cluster), standard
    /// streams, certificate and asset files being read, and some slack.
    public static func reserve(for config: SquallConfig) -> Int {
        let threads = config.http.effectiveThreads
        let listeners = config.http.listen.count + config.https.listen.count
        let redis = config.redisOptions == nil ? 0 : config.redis.connections * threads * 8
        return 64 + listeners + 4 * threads + redis
    }

    /// The `http.max_connections` that fits under `limit` open files with `reserve` kept back;
    /// `wanted` when it fits.
    public static func connections(wanted: Int, reserve: Int, limit: Int) -> Int {
        let room = limit - reserve
        return room >= wanted ? wanted : max(1, room)
    }
}
