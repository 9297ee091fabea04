import TrackerCore

/// `/health` (the store answers within its timeout) and `/metrics` (Prometheus' exposition),
/// both run as bulk work: they wait on the store's bulk verbs.
struct StatusEndpoints: Sendable {
    let store: any PeerStore
    let metrics: TrackerMetrics
    let openConnections: @Sendable () -> Int
    let certificateExpiresIn: @Sendable () -> Int?
    /// Private mode's accounting, whose figures follow the registry's.
    var accounting: Accounting? = nil

    /// Outside `stats.allow` (`detailed` false) a client learns only whether the tracker serves.
    func health(detailed: Bool) async -> HTTPReply {
        let expiry = certificateExpiresIn()
        let up = await store.health()
        let json = detailed ? Self.health(up, store: store.kind.rawValue, certificateExpiresIn: expiry) : Self.bareHealth(up)
        return HTTPReply(status: up ? 200 : 503, contentType: "application/json", body: Array(json.utf8))
    }

    static func bareHealth(_ storeUp: Bool) -> String { #"{"status":"\#(storeUp ? "ok" : "unavailable")"}"# + "\n" }

    /// `{"status":"ok"|"unavailable","version":...,"store":"memory"|"redis"|"down",...}`
    static func health(_ storeUp: Bool, store: String, certificateExpiresIn: Int?) -> String {
        let status = storeUp ? "ok" : "unavailable"
        var json = #"{"status":"\#(status)","version":"\#(TrackerRouter.version)","store":"\#(storeUp ? store : "down")""#
        if let s = certificateExpiresIn { json += #","certificate_expires_in":\#(s)"# }
        return json + "}\n"
    }

    func exposition() async -> HTTPReply {
        let (open, expiry) = (openConnections(), certificateExpiresIn())
        var body = metrics.exposition(open: open, swarm: try? await store.totals(), certificateExpiresIn: expiry)
        if let accounting { body += Array(accounting.exposition().utf8) }
        return HTTPReply(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)
    }
}
