import TrackerCore

/// `/health` (the store answers within its timeout) and `/metrics` (Prometheus' exposition).
struct StatusEndpoints: Sendable {
    let store: any PeerStore
    let metrics: TrackerMetrics
    let openConnections: @Sendable () -> Int
    let certificateExpiresIn: @Sendable () -> Int?

    /// Outside `stats.allow` (`detailed` false) a client learns only whether the tracker serves.
    func health(detailed: Bool, respond: @escaping @Sendable (HTTPReply) -> Void) {
        let (kind, expiry) = (store.kind, certificateExpiresIn())
        store.health { up in
            let json = detailed ? Self.health(up, store: kind, certificateExpiresIn: expiry) : Self.bareHealth(up)
            respond(HTTPReply(status: up ? 200 : 503, contentType: "application/json", body: Array(json.utf8)))
        }
    }

    static func bareHealth(_ storeUp: Bool) -> String { #"{"status":"\#(storeUp ? "ok" : "unavailable")"}"# + "\n" }

    /// `{"status":"ok"|"unavailable","version":...,"store":"memory"|"redis"|"down",...}`
    static func health(_ storeUp: Bool, store: String, certificateExpiresIn: Int?) -> String {
        let status = storeUp ? "ok" : "unavailable"
        var json = #"{"status":"\#(status)","version":"\#(TrackerRouter.version)","store":"\#(storeUp ? store : "down")""#
        if let s = certificateExpiresIn { json += #","certificate_expires_in":\#(s)"# }
        return json + "}\n"
    }

    func exposition(respond: @escaping @Sendable (HTTPReply) -> Void) {
        let (metrics, open, expiry) = (metrics, openConnections(), certificateExpiresIn())
        store.totals { result in
            let body = metrics.exposition(open: open, swarm: try? result.get(), certificateExpiresIn: expiry)
            respond(HTTPReply(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body))
        }
    }
}
