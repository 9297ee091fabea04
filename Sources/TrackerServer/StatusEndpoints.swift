import TrackerCore

/// `/health` (liveness: 200 while the process serves, whatever its store does, so an
/// orchestrator restarts no tracker for a Redis outage), `/ready` (readiness: the store answers
/// within its timeout) and `/metrics` (Prometheus' exposition), run as bulk work: they wait on
/// the store's bulk verbs.
struct StatusEndpoints: Sendable {
    let store: any PeerStore
    let metrics: TrackerMetrics
    let openConnections: @Sendable () -> Int
    let certificateExpiresIn: @Sendable () -> Int?
    /// Private mode's accounting, whose figures follow the registry's.
    var accounting: Accounting? = nil

    /// Always 200. Outside `stats.allow` (`detailed` false) a client learns only that the
    /// tracker serves; inside it, also the version, whether the store answers and the
    /// certificate's expiry.
    func health(detailed: Bool) async -> HTTPReply {
        guard detailed else { return HTTPReply(status: 200, contentType: "application/json", body: Array(Self.bareHealth.utf8)) }
        let (expiry, up) = (certificateExpiresIn(), await store.health())
        let json = Self.health(up, store: store.kind.rawValue, certificateExpiresIn: expiry)
        return HTTPReply(status: 200, contentType: "application/json", body: Array(json.utf8))
    }

    /// 200 `{"status":"ready"}` while the store answers, 503 `{"status":"unavailable"}` while
    /// it does not (a balancer sends announces elsewhere meanwhile).
    func ready() async -> HTTPReply {
        let up = await store.health()
        let json = #"{"status":"\#(up ? "ready" : "unavailable")"}"# + "\n"
        return HTTPReply(status: up ? 200 : 503, contentType: "application/json", body: Array(json.utf8))
    }

    static let bareHealth = #"{"status":"ok"}"# + "\n"

    /// `{"status":"ok","version":...,"store":"memory"|"redis"|"redis-cluster"|"down",...}`
    static func health(_ storeUp: Bool, store: String, certificateExpiresIn: Int?) -> String {
        var json = #"{"status":"ok","version":"\#(TrackerRouter.version)","store":"\#(storeUp ? store : "down")""#
        if let s = certificateExpiresIn { json += #","certificate_expires_in":\#(s)"# }
        return json + "}\n"
    }

    func exposition() async -> HTTPReply {
        let (open, expiry) = (openConnections(), certificateExpiresIn())
        var body = metrics.exposition(open: open, swarm: try? await store.totals(), certificateExpiresIn: expiry)
        if let accounting { body += Array(accounting.exposition().utf8) }
        body += Array(ProcessMetrics.exposition(version: TrackerRouter.version).utf8)
        return HTTPReply(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)
    }
}
