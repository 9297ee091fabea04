import TrackerCore
import TrackerProtocol
import TrackerTLS

#if canImport(Glibc)
    import Glibc
#endif

/// The statistics: who may read them (`stats.allow`, `stats.hosts`, `stats.token`), the page,
/// its JSON documents and files, the table's rows cache and the charts' history.
final class StatsEndpoints: Sendable {
    let store: any PeerStore
    let settings: SquallConfig.StatsSettings
    let metrics: TrackerMetrics
    let started = ContinuousClock.now
    /// Seconds until the nearest certificate expires, when TLS is served.
    let certificateExpiresIn: @Sendable () -> Int?
    /// The torrents table's rows and sorted orders, single-flight (see `StatsRowsCache`).
    let rows: StatsRowsCache
    let hosts: HostRule
    let assets: StatsAssets
    let history = StatsHistory()

    init(
        store: any PeerStore, settings: SquallConfig.StatsSettings, metrics: TrackerMetrics,
        certificateExpiresIn: @escaping @Sendable () -> Int?
    ) {
        (self.store, self.settings, self.metrics, self.certificateExpiresIn) = (store, settings, metrics, certificateExpiresIn)
        // Read once, before serving: never a file read on an event loop.
        self.assets = StatsAssets(directory: settings.enabled ? settings.assetsDirectory : "/nonexistent")
        self.rows = StatsRowsCache { [store] done in store.torrentRows(completion: done) }
        self.hosts = HostRule(names: settings.hosts)
    }

    /// `stats.allow` holds the client's address, the Host is one `stats.hosts` allows (no DNS
    /// rebinding) and, when `stats.token` is set, the request carries `Authorization: Bearer
    /// TOKEN` (digests compared in constant time: no length or prefix shows in the timing).
    func allowed(_ head: HTTPRequestHead, remote: PeerAddress) -> Bool {
        guard addressAllowed(remote), hosts.allows(head.host) else { return false }
        guard let token = settings.token else { return true }
        return Digest.sameSecret(head.authorization ?? [], Array(("Bearer " + token).utf8))
    }

    func addressAllowed(_ remote: PeerAddress) -> Bool { settings.allow.covers(remote) }

    /// Answers one of the statistics' routes (the access rule already passed).
    func serve(_ route: TrackerRequest.Stats, query: ArraySlice<UInt8>, respond: @escaping @Sendable (HTTPReply) -> Void) {
        switch route {
        case .page: page(respond: respond)
        case .summary: summary { respond(.json($0.json)) }
        case .history: respond(.json(history.json))
        case .torrents: torrents(FormFields.parse(query), respond: respond)
        case .torrent(let hash): torrent(hash, respond: respond)
        case .asset(let name): respond(asset(name))
        case .unknown: respond(.text(404, "not found"))
        }
    }

    /// Reads what the page and `/stats.json` show: the store's totals and health, the counts.
    private func summary(_ body: @escaping @Sendable (StatsSummary) -> Void) {
        let uptime = max(1, (ContinuousClock.now - started).components.seconds)
        let (kind, counts, expiry) = (store.kind, metrics.totals, certificateExpiresIn())
        let store = store
        store.totals { totals in
            store.health { up in
                body(
                    StatsSummary(
                        version: TrackerRouter.version, uptime: uptime, store: kind, storeUp: up, totals: try? totals.get(),
                        announces: counts.announces, scrapes: counts.scrapes, certificateExpiresIn: expiry))
            }
        }
    }

    /// DataTables' server-side protocol: `draw`, `start`, `length`, `search[value]` (an
    /// info_hash prefix), `order[0][column]` and `order[0][dir]` (see `TorrentQuery`).
    private func torrents(_ p: [String: String], respond: @escaping @Sendable (HTTPReply) -> Void) {
        // DataTables wants `draw` echoed as a number (never as the text sent).
        let draw = Int(p["draw"] ?? "") ?? 0
        let query = TorrentQuery(dataTables: p)
        rows.withTable { result in
            switch result {
            case .success(let table): respond(.json(StatsJSON.torrents(draw: draw, query.run(on: table))))
            case .failure(let e): respond(.json(StatsJSON.error(e.failure.reason), status: 503))
            }
        }
    }

    /// One torrent's peers (at most 1000), addresses only with `stats.show_peer_addresses`.
    private func torrent(_ hash: InfoHash, respond: @escaping @Sendable (HTTPReply) -> Void) {
        let showAddresses = settings.showPeerAddresses
        store.peerRows(of: hash, limit: 1000) { result in
            switch result {
            case .success(nil): respond(.json(StatsJSON.error("unknown torrent"), status: 404))
            case .success(let peers?): respond(.json(StatsJSON.peers(of: hash, peers, showAddresses: showAddresses)))
            case .failure(let e): respond(.json(StatsJSON.error(e.failure.reason), status: 503))
            }
        }
    }

    /// The page: summary, first page of the table (server-rendered), scripts when present.
    private func page(respond: @escaping @Sendable (HTTPReply) -> Void) {
        let (assets, rows) = (assets, rows)
        summary { summary in
            rows.withTable { table in
                let first = (try? table.get()).map { TorrentQuery(start: 0, length: 25).run(on: $0).rows } ?? []
                respond(
                    HTTPReply(
                        status: 200, contentType: "text/html; charset=utf-8",
                        body: Array(StatsPage.html(summary, firstPage: first, assets: assets).utf8),
                        extraHeaders: [StatsPage.contentSecurityPolicy, "Cache-Control: no-store", "X-Content-Type-Options: nosniff"]))
            }
        }
    }

    /// One of the page's files: Squall's own script and stylesheet, or a listed Debian file.
    private func asset(_ path: String) -> HTTPReply {
        let headers = ["Cache-Control: max-age=3600", "X-Content-Type-Options: nosniff"]
        switch path {
        case "squall-stats.js":
            return HTTPReply(
                status: 200, contentType: "text/javascript; charset=utf-8", body: Array(StatsPage.script.utf8), extraHeaders: headers)
        case "squall-stats.css":
            return HTTPReply(
                status: 200, contentType: "text/css; charset=utf-8", body: Array(StatsPage.stylesheet.utf8), extraHeaders: headers)
        default:
            guard let f = assets.files[path] else { return .text(404, "not found") }
            return HTTPReply(status: 200, contentType: f.contentType, body: f.bytes, extraHeaders: headers)
        }
    }

    /// One sample for the charts (the server calls it every `StatsHistory.interval` seconds).
    func sampleHistory() {
        let counts = metrics.totals
        let announces = counts.announces.values.reduce(0, +)
        let history = history
        store.totals { result in
            history.record(time: Int(time(nil)), announces: announces, peers: (try? result.get().peers) ?? 0)
        }
    }
}
