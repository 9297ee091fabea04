public import Logging
import NIOCore
public import TrackerCore
import TrackerProtocol

/// One announce, in one straight line: the query parsed, the source's quotas, `AnnounceLogic`'s
/// store verb, the store, `AnnounceLogic`'s response, the bencoded reply. The router and
/// `squall-bench pipeline` both call it, so the benchmark times exactly what a client gets.
public struct AnnounceEndpoint: Sendable {
    let store: any PeerStore
    /// `announce.*` in force (SIGHUP may change them), read once per announce.
    let live: LiveConfig
    let newTorrents = NewTorrentLimiter()
    let metrics: TrackerMetrics
    let outages: OutageLog
    let logger: Logger

    init(store: any PeerStore, live: LiveConfig, metrics: TrackerMetrics, outages: OutageLog, logger: Logger) {
        (self.store, self.live) = (store, live)
        (self.metrics, self.outages, self.logger) = (metrics, outages, logger)
    }

    /// With metrics and an outage log of its own (the benchmark's).
    public init(store: any PeerStore, settings: SquallConfig.AnnounceSettings = .init(), logger: Logger) {
        var config = SquallConfig()
        config.announce = settings
        self.init(store: store, live: LiveConfig(config), metrics: TrackerMetrics(), outages: OutageLog(logger: logger), logger: logger)
    }

    /// Answers the announce `query` from `remote`; `respond` is called once, inline when the store
    /// answers inline (the memory store) or later from the store's I/O.
    public func serve(_ query: ArraySlice<UInt8>, from remote: PeerAddress, respond: @escaping @Sendable (HTTPReply) -> Void) {
        serve(query, from: remote, in: live.current, respond: respond)
    }

    /// The same, under the configuration the router read for this request.
    func serve(
        _ query: ArraySlice<UInt8>, from remote: PeerAddress, in current: LiveConfig.Current,
        respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        let (settings, policy) = (current.config.announce, current.policy)
        let request: AnnounceRequest
        do {
            request = try query.withUnsafeBytes { (raw) throws(TrackerFailure) in try AnnounceParser.parse(query: raw) }
        } catch {
            respond(.failure(error as? TrackerFailure ?? TrackerFailure("malformed query")))
            return
        }
        // Quotas per source, unless the source is exempt (loopback by default).
        let source = SourceKey(remote)
        let minute = NewTorrentLimiter.minute(uptimeNanoseconds: NIODeadline.now().uptimeNanoseconds)
        let exempt = settings.quotaExempt.covers(remote)
        let quota =
            exempt
            ? SourceQuota.unlimited
            : SourceQuota(
                peersPerTorrent: settings.maxPeersPerSource,
                mayCreateTorrent: newTorrents.allows(source, minute: minute, limit: settings.maxNewTorrentsPerSource))
        let verb = AnnounceLogic.storeVerb(for: request, from: remote, policy: policy, quota: quota)
        let (logger, metrics, outages, newTorrents) = (logger, metrics, outages, newTorrents)
        let charged = !exempt && settings.maxNewTorrentsPerSource > 0
        let storeStarted = ContinuousClock.now
        store.announce(verb) { result in
            metrics.storeAnnounceLatency.recordInterval(since: storeStarted)
            switch result {
            case .success(let reply):
                outages.succeeded()
                if reply.createdTorrent, charged { newTorrents.charge(source, minute: minute) }
                if !reply.recorded { metrics.announceNotOwned() }
                logger.debug(
                    "announce",
                    metadata: [
                        "info_hash": "\(request.infoHash)", "from": "\(verb.endpoint)", "event": "\(request.event.rawValue)",
                        "left": "\(request.left)", "peers": "\(reply.peers.count)",
                    ])
                let response = AnnounceLogic.response(for: request, from: remote, reply: reply, policy: policy)
                var w = BencodeWriter(capacity: 96 + 18 * reply.peers.count)
                ResponseEncoding.announce(response, into: &w)
                respond(.bencoded(w))
            case .failure(let e):
                respond(.storeFailed(e, metrics: metrics, outages: outages))
            }
        }
    }
}
