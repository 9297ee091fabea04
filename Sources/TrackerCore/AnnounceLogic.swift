/// Tracker-wide announce settings that shape replies.
public struct AnnouncePolicy: Sendable, Equatable {
    /// Seconds a client should wait between announces.
    public var interval: Int
    /// Seconds a client must wait at least.
    public var minInterval: Int
    /// Peers returned when the client sends no `numwant`.
    public var defaultNumwant: Int
    /// The most peers one reply carries, whatever the client asks.
    public var maxNumwant: Int

    public init(interval: Int = 1800, minInterval: Int = 900, defaultNumwant: Int = 50, maxNumwant: Int = 200) {
        self.interval = interval
        self.minInterval = minInterval
        self.defaultNumwant = defaultNumwant
        self.maxNumwant = maxNumwant
    }

    /// How long an endpoint lives without an announce: one interval plus a minute of grace
    /// (BitStorm's 1860 s with the default interval).
    public var peerTTL: Int { interval + 60 }
}

/// What an announce means, decided in one place for every store (chihaya's swarm interaction hook).
public enum AnnounceLogic {
    /// Turns a parsed request from `source` into the store verb, held to `quota`.
    public static func storeVerb(
        for request: AnnounceRequest, from source: PeerAddress, policy: AnnouncePolicy, quota: SourceQuota = .unlimited
    ) -> PeerAnnounce {
        let role: PeerRole =
            if request.left == 0 { .seeder } else if request.event == .paused { .partialSeed } else { .leecher }
        let wanted = request.numwant ?? policy.defaultNumwant
        let numwant = request.event == .stopped ? 0 : min(max(wanted, 0), policy.maxNumwant)
        return PeerAnnounce(
            infoHash: request.infoHash,
            peerID: request.peerID,
            endpoint: Endpoint(address: source.normalized, port: request.port),
            role: role,
            countsDownload: request.event == .completed,
            remove: request.event == .stopped,
            numwant: numwant,
            key: request.key,
            quota: quota
        )
    }

    /// Builds the reply the client gets from what the store answered.
    public static func response(
        for request: AnnounceRequest, from source: PeerAddress, reply: SwarmReply, policy: AnnouncePolicy
    ) -> AnnounceResponse {
        AnnounceResponse(
            interval: policy.interval,
            minInterval: policy.minInterval,
            complete: reply.complete,
            incomplete: reply.incomplete,
            downloaded: reply.downloaded,
            peers: request.event == .stopped ? [] : reply.peers,
            externalIP: source.normalized,
            compact: request.compact,
            noPeerID: request.noPeerID
        )
    }
}
