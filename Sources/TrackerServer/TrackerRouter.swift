import Logging
import PrivateCore
import TrackerCore
import TrackerProtocol
import TrackerTLS

#if canImport(Glibc)
    import Glibc
#endif

/// Maps a request to its endpoint: the head read once into a `TrackerRequest`, which picks the
/// endpoint and labels the metrics. Shared by every connection; holds no per-connection state.
public final class TrackerRouter: Sendable {
    public static let version = "0.1.0"

    /// The configuration at start (what only a restart changes); `live` is what is in force.
    let config: SquallConfig
    let live: LiveConfig
    let logger: Logger
    let metrics = TrackerMetrics()
    let announce: AnnounceEndpoint
    let scrape: ScrapeEndpoint
    let status: StatusEndpoints
    let stats: StatsEndpoints
    /// Where the requests that wait on the store's bulk verbs run (see `BulkWork`).
    let bulk: BulkWork
    /// See `PeerStore.completesInline`.
    let storeCompletesInline: Bool
    /// Private mode's endpoints (nil: an open tracker).
    let privateAnnounce: PrivateAnnounceEndpoint?
    let privateScrape: PrivateScrapeEndpoint?
    let passkeyForms: PasskeyForms
    let privateTracker: PrivateTracker?

    init(
        store: any PeerStore, config: SquallConfig, live: LiveConfig? = nil, logger: Logger, bulk: BulkWork,
        tls: (any TLSContextProvider)? = nil, privateTracker: PrivateTracker? = nil,
        openConnections: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.bulk = bulk
        self.storeCompletesInline = store.completesInline
        self.config = config
        let live = live ?? LiveConfig(config)
        self.live = live
        self.logger = logger
        let expiry: @Sendable () -> Int? = { tls.map { $0.current.nearestExpiry - Int(time(nil)) } }
        // One outage log for both: an outage is the store's, whichever verb meets it.
        let outages = OutageLog(logger: logger)
        announce = AnnounceEndpoint(store: store, live: live, metrics: metrics, outages: outages, logger: logger)
        scrape = ScrapeEndpoint(store: store, live: live, metrics: metrics, outages: outages, bulk: bulk)
        status = StatusEndpoints(
            store: store, metrics: metrics, openConnections: openConnections, certificateExpiresIn: expiry,
            accounting: privateTracker?.accounting)
        stats = StatsEndpoints(
            store: store, settings: config.stats, metrics: metrics, bulk: bulk, certificateExpiresIn: expiry, privateTracker: privateTracker
        )
        let (openAnnounce, openScrape) = (announce, scrape)
        privateAnnounce = privateTracker.map { PrivateAnnounceEndpoint(tracker: $0, open: openAnnounce) }
        privateScrape = privateTracker.map { PrivateScrapeEndpoint(tracker: $0, open: openScrape) }
        passkeyForms = privateTracker == nil ? [] : config.privateMode.passkeyForms
        self.privateTracker = privateTracker
    }

    /// Answers `head` from `remote`; `respond` is called exactly once, inline or later from the
    /// store. Every reply is counted in the metrics by route, transport, family and outcome.
    /// `metricsOnly`: from a `metrics.listen` listener, which serves `/metrics` (to any address
    /// that reaches it, `stats.token` still asked for when set), `/health` and `/ready`, and
    /// nothing else.
    func route(
        _ head: HTTPRequestHead, remote: PeerAddress, transport: Transport = .http, metricsOnly: Bool = false,
        respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        // One read of the configuration in force per request, used throughout it.
        let current = live.current
        let remote = ForwardedClient.resolve(head, remote: remote, trusted: current.config.trustedProxies)
        let request = TrackerRequest(head, passkeys: passkeyForms)
        privateTracker?.noteRequest()
        let label = TrackerMetrics.Route(request)
        let metrics = metrics
        let started = label == .announce ? ContinuousClock.now : nil
        let answer: @Sendable (HTTPReply) -> Void = { reply in
            if let started { metrics.announceLatency.recordInterval(since: started) }
            metrics.request(label, transport, remote, reply.status >= 400 ? .rejected : reply.outcome)
            respond(reply)
        }
        if metricsOnly {
            switch request {
            case .metrics:
                guard stats.tokenAllowed(head, current) else { return answer(.text(403, "forbidden")) }
                let status = status
                return offload(answer) { await status.exposition() }
            case .health, .ready: break
            default: return answer(.text(404, "not found"))
            }
        }
        dispatch(request, head, remote: remote, transport: transport, current: current, respond: answer)
    }

    private func dispatch(
        _ request: TrackerRequest, _ head: HTTPRequestHead, remote: PeerAddress, transport: Transport, current: LiveConfig.Current,
        respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        if request.isStatistics {
            guard current.config.stats.enabled else { return respond(.text(404, "not found")) }
            guard stats.allowed(head, remote: remote, current) else { return respond(.text(403, "forbidden")) }
        }
        guard head.method != .other else {
            return respond(.text(405, "method not allowed", close: true, extraHeaders: ["Allow: GET, HEAD"]))
        }
        if privateAnnounce != nil, request == .announce || request == .scrape {
            return respond(PrivateAnnounceEndpoint.refusal(PrivateTexts.passkeyRequired))
        }
        switch request {
        case .announce: announce.serve(head.query, from: remote, in: current, respond: respond)
        case .scrape: scrape.serve(head.query, in: current, respond: respond)
        case .privateAnnounce(let passkey):
            guard let privateAnnounce else { return respond(.text(404, "not found")) }
            privateAnnounce.serve(passkey: passkey, head, from: remote, transport: transport, in: current, respond: respond)
        case .privateScrape(let passkey):
            guard let privateScrape else { return respond(.text(404, "not found")) }
            privateScrape.serve(passkey: passkey, head, transport: transport, in: current, respond: respond)
        case .health:
            let (status, detailed) = (status, current.config.stats.allow.covers(remote))
            offload(respond) { await status.health(detailed: detailed) }
        case .ready:
            let status = status
            offload(respond) { await status.ready() }
        case .metrics:
            let status = status
            offload(respond) { await status.exposition() }
        case .stats(let route):
            guard StatsEndpoints.readsStore(route) else { return respond(stats.serveInline(route)) }
            let (stats, query) = (stats, head.query)
            offload(respond) { await stats.serve(route, query: query, in: current) }
        case .redirect(let r): respond(.redirect(r.status, to: r.location))
        case .root: respond(.text(200, "Squall \(Self.version) BitTorrent tracker: announce at /announce, statistics at /stats"))
        case .notFound: respond(.text(404, "not found"))
        }
    }

    /// Runs `reply` as bulk work and responds with what it makes; 503 at once when the bulk
    /// work is full or stopping.
    private func offload(_ respond: @escaping @Sendable (HTTPReply) -> Void, _ reply: @escaping @Sendable () async -> HTTPReply) {
        guard bulk.submit({ respond(await reply()) }) else {
            return respond(.busy)
        }
    }

    /// One sample for the charts (the server calls it every `StatsHistory.interval` seconds).
    func sampleHistory() {
        let stats = stats
        _ = bulk.submit { await stats.sampleHistory() }
    }
}
