import CoreMetrics
import Prometheus
import Synchronization
import TrackerCore
import TrackerProtocol

/// How a request reached Squall.
public enum Transport: String, Sendable, CaseIterable {
    case http, https
}

/// Squall's metrics, through swift-metrics into one Prometheus registry per server (no global
/// bootstrap, so several servers in one process keep theirs apart). Every labelled counter is
/// made up front, so a request only increments an atomic.
final class TrackerMetrics: Sendable {
    enum Route: String, CaseIterable {
        case announce, scrape, stats, metrics, health, ready, other

        /// The label of `request`: the statistics' redirect counts as statistics, a browser's
        /// `/announce` without a query, `/` and unknown paths as other.
        init(_ request: TrackerRequest) {
            switch request {
            case .announce, .privateAnnounce: self = .announce
            case .scrape, .privateScrape: self = .scrape
            case .health: self = .health
            case .ready: self = .ready
            case .metrics: self = .metrics
            case .stats, .redirect(.legacyStats): self = .stats
            case .redirect(.announcePage), .root, .notFound: self = .other
            }
        }
    }
    enum Outcome: String, CaseIterable {
        /// Answered as asked.
        case ok
        /// A bencoded failure reason for the client's input (bad query, unknown torrent...).
        case failure
        /// The store could not answer ("storage unavailable, retry later").
        case unavailable
        /// Refused at the HTTP level (4xx), including 403 from the statistics' access rule.
        case rejected
    }

    /// Where a plain-HTTP connection was served (see `HTTPAcceptor`).
    enum Served: String, CaseIterable {
        /// Its one request answered on the accepting thread.
        case atAccept = "at_accept"
        /// Handed to an event loop with what was read (keep-alive, an incomplete head, a body).
        case onLoop = "on_loop"
        /// Handed to an event loop before the client had sent anything.
        case onLoopWaiting = "on_loop_waiting"
        /// Answered on the accepting thread, the rest of the reply written from an event loop.
        case onLoopWriting = "on_loop_writing"
    }

    let registry = PrometheusCollectorRegistry()
    private let served: [CoreMetrics.Counter]
    private let requests: [CoreMetrics.Counter]
    let announceLatency: CoreMetrics.Timer
    /// Store verbs' latency, by `op`: announce, scrape.
    let storeAnnounceLatency: CoreMetrics.Timer
    let storeScrapeLatency: CoreMetrics.Timer
    private let storeErrors: [CoreMetrics.Counter]
    private let openConnections: CoreMetrics.Gauge
    /// Connections closed at accept, by `reason`: max_connections, per_source.
    private let refusals: [CoreMetrics.Counter]
    /// Connections Squall closed on a deadline or a bound, by `reason` (`CloseReason`).
    private let closes: [CoreMetrics.Counter]
    private let handshakeFailures: CoreMetrics.Counter
    /// Announces naming a peer the announcer does not own (answered, nothing recorded).
    private let notOwned: CoreMetrics.Counter
    private let swarm: [CoreMetrics.Gauge]
    private let families: [CoreMetrics.Gauge]
    private let certificateExpiry: CoreMetrics.Gauge
    /// SIGHUP reloads by `result` (applied, failed), and whether the last one was applied
    /// (1 until one fails), as Prometheus reports its own.
    private let reloads: [CoreMetrics.Counter]
    private let lastReloadSuccessful: CoreMetrics.Gauge
    /// Announces and scrapes by transport, for the page's rates.
    private let announcesHTTP = Atomic<Int>(0), announcesHTTPS = Atomic<Int>(0)
    private let scrapesHTTP = Atomic<Int>(0), scrapesHTTPS = Atomic<Int>(0)

    /// From 10 us (an announce on loopback takes tens of microseconds; swift-prometheus's
    /// default starts at 5 ms) to 10 s (a store timing out).
    static let durationBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
        .milliseconds(250), .seconds(1), .seconds(2.5), .seconds(10),
    ]

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        var made: [CoreMetrics.Counter] = []
        for route in Route.allCases {
            for transport in Transport.allCases {
                for family in ["ipv4", "ipv6"] {
                    for outcome in Outcome.allCases {
                        made.append(
                            CoreMetrics.Counter(
                                label: "squall_requests_total",
                                dimensions: [
                                    ("route", route.rawValue), ("transport", transport.rawValue), ("family", family),
                                    ("outcome", outcome.rawValue),
                                ], factory: factory))
                    }
                }
            }
        }
        requests = made
        announceLatency = CoreMetrics.Timer(label: "squall_announce_duration_seconds", factory: factory)
        storeAnnounceLatency = CoreMetrics.Timer(label: "squall_store_duration_seconds", dimensions: [("op", "announce")], factory: factory)
        storeScrapeLatency = CoreMetrics.Timer(label: "squall_store_duration_seconds", dimensions: [("op", "scrape")], factory: factory)
        storeErrors = ["unavailable", "full", "quota"].map {
            CoreMetrics.Counter(label: "squall_store_errors_total", dimensions: [("kind", $0)], factory: factory)
        }
        openConnections = CoreMetrics.Gauge(label: "squall_open_connections", factory: factory)
        refusals = ConnectionRegistry.Refusal.allCases.map {
            CoreMetrics.Counter(label: "squall_connections_refused_total", dimensions: [("reason", $0.rawValue)], factory: factory)
        }
        closes = CloseReason.allCases.map {
            CoreMetrics.Counter(label: "squall_connections_closed_total", dimensions: [("reason", $0.rawValue)], factory: factory)
        }
        handshakeFailures = CoreMetrics.Counter(label: "squall_tls_handshake_failures_total", factory: factory)
        notOwned = CoreMetrics.Counter(label: "squall_announces_not_owned_total", factory: factory)
        served = Served.allCases.map {
            CoreMetrics.Counter(label: "squall_http_connections_total", dimensions: [("served", $0.rawValue)], factory: factory)
        }
        swarm = ["torrents", "peers", "seeders", "leechers"].map { CoreMetrics.Gauge(label: "squall_\($0)", factory: factory) }
        families = ["ipv4", "ipv6", "both"].map {
            CoreMetrics.Gauge(label: "squall_peers_by_family", dimensions: [("family", $0)], factory: factory)
        }
        certificateExpiry = CoreMetrics.Gauge(label: "squall_certificate_expiry_seconds", factory: factory)
        reloads = ["applied", "failed"].map {
            CoreMetrics.Counter(label: "squall_config_reloads_total", dimensions: [("result", $0)], factory: factory)
        }
        lastReloadSuccessful = CoreMetrics.Gauge(label: "squall_config_last_reload_successful", factory: factory)
        lastReloadSuccessful.record(1)
    }

    /// One SIGHUP reload, applied or failed.
    func reloaded(applied: Bool) {
        reloads[applied ? 0 : 1].increment()
        lastReloadSuccessful.record(applied ? 1 : 0)
    }

    func request(_ route: Route, _ transport: Transport, _ remote: PeerAddress, _ outcome: Outcome) {
        let family =
            switch remote {
            case .v4: 0
            case .v6(let a): a.mappedIPv4 == nil ? 1 : 0
            }
        let t = transport == .http ? 0 : 1
        let r = Route.allCases.firstIndex(of: route)!, o = Outcome.allCases.firstIndex(of: outcome)!
        requests[((r * 2 + t) * 2 + family) * Outcome.allCases.count + o].increment()
        guard outcome != .rejected else { return }
        switch (route, transport) {
        case (.announce, .http): announcesHTTP.add(1, ordering: .relaxed)
        case (.announce, .https): announcesHTTPS.add(1, ordering: .relaxed)
        case (.scrape, .http): scrapesHTTP.add(1, ordering: .relaxed)
        case (.scrape, .https): scrapesHTTPS.add(1, ordering: .relaxed)
        default: break
        }
    }

    func connection(_ path: Served) {
        served[Served.allCases.firstIndex(of: path)!].increment()
    }

    func refused(_ r: ConnectionRegistry.Refusal) {
        refusals[ConnectionRegistry.Refusal.allCases.firstIndex(of: r)!].increment()
    }

    func closed(_ r: CloseReason) {
        closes[CloseReason.allCases.firstIndex(of: r)!].increment()
    }

    func handshakeFailed() { handshakeFailures.increment() }
    func announceNotOwned() { notOwned.increment() }

    func storeError(_ e: StoreError) {
        switch e {
        case .unavailable: storeErrors[0].increment()
        case .full: storeErrors[1].increment()
        case .quota: storeErrors[2].increment()
        // Shutting down, not a fault of the store's.
        case .cancelled: break
        }
    }

    /// Announces and scrapes answered so far, by transport.
    var totals: (announces: [Transport: Int], scrapes: [Transport: Int]) {
        (
            [.http: announcesHTTP.load(ordering: .relaxed), .https: announcesHTTPS.load(ordering: .relaxed)],
            [.http: scrapesHTTP.load(ordering: .relaxed), .https: scrapesHTTPS.load(ordering: .relaxed)]
        )
    }

    /// The Prometheus text, with the gauges read now.
    func exposition(open: Int, swarm totals: SwarmTotals?, certificateExpiresIn: Int?) -> [UInt8] {
        openConnections.record(open)
        if let t = totals {
            for (g, v) in zip(swarm, [t.torrents, t.peers, t.seeders, t.leechers]) { g.record(v) }
            for (g, v) in zip(families, [t.ipv4Only, t.ipv6Only, t.dualStack]) { g.record(v) }
        }
        if let c = certificateExpiresIn { certificateExpiry.record(c) }
        return registry.emitToBuffer()
    }
}

extension CoreMetrics.Timer {
    /// Records the time since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let (s, atto) = (ContinuousClock.now - start).components
        recordNanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}
