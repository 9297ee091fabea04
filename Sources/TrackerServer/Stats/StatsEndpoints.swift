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
    /// At start (`assets_dir`); who may read them, and what, is the request's configuration
    /// (`LiveConfig.Current`), which SIGHUP may change.
    let settings: SquallConfig.StatsSettings
    let metrics: TrackerMetrics
    let started = ContinuousClock.now
    /// Seconds until the nearest certificate expires, when TLS is served.
    let certificateExpiresIn: @Sendable () -> Int?
    /// The torrents table's rows and sorted orders, single-flight (see `StatsRowsCache`).
    let rows: StatsRowsCache
    let assets: StatsAssets
    let history = StatsHistory()
    /// Private mode's registry and rates, when it is on.
    let privateTracker: PrivateTracker?

    init(
        store: any PeerStore, settings: SquallConfig.StatsSettings, metrics: TrackerMetrics, bulk: BulkWork,
        certificateExpiresIn: @escaping @Sendable () -> Int?, privateTracker: PrivateTracker? = nil
    ) {
        self.privateTracker = privateTracker
        (self.store, self.settings, self.metrics, self.certificateExpiresIn) = (store, settings, metrics, certificateExpiresIn)
        // Read once, before serving: never a file read on an event loop.
        // Whether or not the page is on now: a reload may turn it on.
        self.assets = StatsAssets(directory: settings.assetsDirectory)
        self.rows = StatsRowsCache(spawn: { bulk.submit($0) }) { [store] () async throws(StoreError) in try await store.torrentRows() }
    }

    /// `stats.allow` holds the client's address, the Host is one `stats.hosts` allows (no DNS
    /// rebinding) and, when `stats.token` is set, the request carries `Authorization: Bearer
    /// TOKEN` (digests compared in constant time: no length or prefix shows in the timing).
    /// `current` is the configuration in force (SIGHUP may change these keys).
    func allowed(_ head: HTTPRequestHead, remote: PeerAddress, _ current: LiveConfig.Current) -> Bool {
        current.config.stats.allow.covers(remote) && current.statsHosts.allows(head.host) && tokenAllowed(head, current)
    }

    /// Whether `head` carries `stats.token` (true when none is set).
    func tokenAllowed(_ head: HTTPRequestHead, _ current: LiveConfig.Current) -> Bool {
        guard let token = current.config.stats.token else { return true }
        return Digest.sameSecret(head.authorization ?? [], Array(("Bearer " + token).utf8))
    }

    /// Whether `route` needs the store (and so runs as bulk work, off the event loops).
    static func readsStore(_ route: TrackerRequest.Stats) -> Bool {
        switch route {
        case .page, .summary, .torrents, .torrent: true
        case .history, .asset, .unknown: false
        }
    }

    /// Answers a route that reads nothing from the store, at once.
    func serveInline(_ route: TrackerRequest.Stats) -> HTTPReply {
        switch route {
        case .history: .json(history.json)
        case .asset(let name): asset(name)
        default: .text(404, "not found")
        }
    }

    /// Answers one of the statistics' routes (the access rule already passed). Runs on the
    /// bulk-work pool: the table's walk, sort and page never run on an event loop.
    /// `current`: the configuration the router read for this request.
    func serve(_ route: TrackerRequest.Stats, query: ArraySlice<UInt8>, in current: LiveConfig.Current) async -> HTTPReply {
        switch route {
        case .page: await page()
        case .summary: .json(await summary().json)
        case .torrents: await torrents(FormFields.parse(query))
        case .torrent(let hash): await torrent(hash, showAddresses: current.config.stats.showPeerAddresses)
        case .history, .asset, .unknown: serveInline(route)
        }
    }

    /// Reads what the page and `/stats.json` show: the store's totals and health, the counts.
    private func summary() async -> StatsSummary {
        let uptime = max(1, (ContinuousClock.now - started).components.seconds)
        let (counts, expiry) = (metrics.totals, certificateExpiresIn())
        let totals = try? await store.totals()
        let up = await store.health()
        return StatsSummary(
            version: TrackerRouter.version, uptime: uptime, store: store.kind.rawValue, storeUp: up, totals: totals,
            announces: counts.announces, scrapes: counts.scrapes, certificateExpiresIn: expiry, privateMode: privateTracker?.summaryJSON())
    }

    /// DataTables' server-side protocol: `draw`, `start`, `length`, `search[value]` (an
    /// info_hash prefix), `order[0][column]` and `order[0][dir]` (see `TorrentQuery`).
    private func torrents(_ p: [String: String]) async -> HTTPReply {
        // DataTables wants `draw` echoed as a number (never as the text sent).
        let draw = Int(p["draw"] ?? "") ?? 0
        let query = TorrentQuery(dataTables: p)
        do throws(StoreError) {
            return .json(StatsJSON.torrents(draw: draw, query.run(on: try await rows.table())))
        } catch {
            return .json(StatsJSON.error(error.failure.reason), status: 503)
        }
    }

    /// One torrent's peers (at most 1000), addresses only with `stats.show_peer_addresses`.
    private func torrent(_ hash: InfoHash, showAddresses: Bool) async -> HTTPReply {
        do throws(StoreError) {
            guard let peers = try await store.peerRows(of: hash, limit: 1000) else {
                return .json(StatsJSON.error("unknown torrent"), status: 404)
            }
            return .json(StatsJSON.peers(of: hash, peers, showAddresses: showAddresses))
        } catch {
            return .json(StatsJSON.error(error.failure.reason), status: 503)
        }
    }

    /// The page: summary, first page of the table (server-rendered), scripts when present.
    private func page() async -> HTTPReply {
        let summary = await summary()
        let first = (try? await rows.table()).map { TorrentQuery(start: 0, length: 25).run(on: $0).rows } ?? []
        return HTTPReply(
            status: 200, contentType: "text/html; charset=utf-8",
            body: Array(StatsPage.html(summary, firstPage: first, assets: assets).utf8),
            extraHeaders: [StatsPage.contentSecurityPolicy, "Cache-Control: no-store", "X-Content-Type-Options: nosniff"])
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

    /// One sample for the charts (the server runs it every `StatsHistory.interval` seconds).
    func sampleHistory() async {
        let announces = metrics.totals.announces.values.reduce(0, +)
        let peers = (try? await store.totals().peers) ?? 0
        history.record(time: Int(time(nil)), announces: announces, peers: peers)
    }
}
