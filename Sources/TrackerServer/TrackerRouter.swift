public import Logging
import NIOCore
public import TrackerCore
import TrackerProtocol
public import TrackerTLS

#if canImport(Glibc)
    import Glibc
#endif

/// A reply ready to be written: status, content type, body and whether to close afterwards.
public struct HTTPReply: Sendable {
    public var status: Int
    public var contentType: StaticString
    public var body: [UInt8]
    public var extraHeaders: [String]
    public var close: Bool
    /// What the metrics count this reply as; 4xx and 5xx statuses count as rejected.
    var outcome = TrackerMetrics.Outcome.ok

    public init(status: Int, contentType: StaticString = "text/plain", body: [UInt8], extraHeaders: [String] = [], close: Bool = false) {
        (self.status, self.contentType, self.body, self.extraHeaders, self.close) = (status, contentType, body, extraHeaders, close)
    }

    static func text(_ status: Int, _ text: String, close: Bool = false, extraHeaders: [String] = []) -> HTTPReply {
        HTTPReply(
            status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8), extraHeaders: extraHeaders,
            close: close)
    }
    static func redirect(_ status: Int, to location: String) -> HTTPReply {
        HTTPReply(
            status: status, contentType: "text/plain; charset=utf-8", body: Array("see \(location)\n".utf8),
            extraHeaders: ["Location: \(location)"])
    }
    /// A bencoded tracker reply (always 200, failures included, as BEP 3 says).
    static func bencoded(_ w: BencodeWriter) -> HTTPReply {
        HTTPReply(status: 200, contentType: "text/plain", body: w.bytes)
    }
    static func failure(_ f: TrackerFailure, unavailable: Bool = false) -> HTTPReply {
        var w = BencodeWriter(capacity: 64)
        ResponseEncoding.failure(f, into: &w)
        var r = bencoded(w)
        r.outcome = unavailable ? .unavailable : .failure
        return r
    }
    static func json(_ text: String, status: Int = 200) -> HTTPReply {
        HTTPReply(
            status: status, contentType: "application/json", body: Array(text.utf8),
            extraHeaders: ["Cache-Control: no-store", "X-Content-Type-Options: nosniff"])
    }
}

/// Maps a request to its reply. Shared by every connection; holds no per-connection state.
public final class TrackerRouter: Sendable {
    public static let version = "0.1.0"

    let store: any PeerStore
    let config: SquallConfig
    let policy: AnnouncePolicy
    let logger: Logger
    let started = ContinuousClock.now
    let tls: (any TLSContextProvider)?
    let metrics = TrackerMetrics()
    /// The torrents table's rows and sorted orders, single-flight (see `StatsRowsCache`).
    private let rows: StatsRowsCache
    /// Store outages logged by their transitions, not per request.
    private let outages: OutageLog
    private let hosts: HostRule
    private let newTorrents: NewTorrentLimiter
    let assets: StatsAssets
    let history = StatsHistory()
    private let openConnections: @Sendable () -> Int

    public init(
        store: any PeerStore, config: SquallConfig, logger: Logger, tls: (any TLSContextProvider)? = nil,
        openConnections: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.tls = tls
        self.openConnections = openConnections
        // Read once, before serving: never a file read on an event loop.
        self.assets = config.stats.enabled ? StatsAssets(directory: config.stats.assetsDirectory) : StatsAssets(directory: "/nonexistent")
        self.store = store
        self.config = config
        self.policy = config.announce.policy
        self.logger = logger
        self.rows = StatsRowsCache { [store] done in store.torrentRows(completion: done) }
        self.outages = OutageLog(logger: logger)
        self.hosts = HostRule(names: config.stats.hosts)
        self.newTorrents = NewTorrentLimiter(limit: config.announce.maxNewTorrentsPerSource)
    }

    /// Answers `head` from `remote`; `respond` is called exactly once, inline or later from the
    /// store. Every reply is counted in the metrics by route, transport, family and outcome.
    func route(
        _ head: HTTPRequestHead, remote: PeerAddress, transport: Transport = .http, respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        let path = head.path
        let route: TrackerMetrics.Route =
            if path.elementsEqual("/announce".utf8) && !head.query.isEmpty {
                .announce
            } else if path.elementsEqual("/scrape".utf8) {
                .scrape
            } else if path.elementsEqual("/metrics".utf8) {
                .metrics
            } else if path.elementsEqual("/health".utf8) {
                .health
            } else if path.elementsEqual("/stats".utf8) || path.elementsEqual("/stats.json".utf8) || path.elementsEqual("/stats.php".utf8)
                || path.starts(with: "/stats/".utf8)
            {
                .stats
            } else {
                .other
            }
        let metrics = metrics
        let started = route == .announce ? ContinuousClock.now : nil
        let counted: @Sendable (HTTPReply) -> Void = { reply in
            if let started { metrics.announceLatency.recordInterval(since: started) }
            metrics.request(route, transport, remote, reply.status >= 400 ? .rejected : reply.outcome)
            respond(reply)
        }
        dispatch(head, route: route, remote: remote, respond: counted)
    }

    private func dispatch(
        _ head: HTTPRequestHead, route: TrackerMetrics.Route, remote: PeerAddress, respond: @escaping @Sendable (HTTPReply) -> Void
    ) {
        if route == .stats || route == .metrics {
            guard config.stats.enabled else { return respond(.text(404, "not found")) }
            guard statsAllowed(head, remote: remote) else { return respond(.text(403, "forbidden")) }
        }
        guard head.method != .other else {
            respond(.text(405, "method not allowed", close: true, extraHeaders: ["Allow: GET, HEAD"]))
            return
        }
        let path = head.path
        if path.elementsEqual("/announce".utf8) {
            if head.query.isEmpty {
                respond(.redirect(302, to: "/stats"))
            } else {
                announce(head.query, remote: remote, respond: respond)
            }
        } else if path.elementsEqual("/scrape".utf8) {
            scrape(head.query, respond: respond)
        } else if path.elementsEqual("/health".utf8) {
            // Outside stats.allow, a client learns only whether the tracker serves.
            let json: @Sendable (Bool) -> String = addressAllowed(remote) ? health : Self.bareHealth
            store.health { up in
                respond(HTTPReply(status: up ? 200 : 503, contentType: "application/json", body: Array(json(up).utf8)))
            }
        } else if path.elementsEqual("/stats".utf8) {
            stats(respond: respond)
        } else if path.elementsEqual("/stats.json".utf8) {
            statsJSON(respond: respond)
        } else if path.elementsEqual("/stats/history.json".utf8) {
            respond(.json(history.json))
        } else if path.starts(with: "/stats/assets/".utf8) {
            respond(asset(String(decoding: path.dropFirst("/stats/assets/".utf8.count), as: UTF8.self)))
        } else if path.elementsEqual("/stats/torrents.json".utf8) {
            torrentsJSON(FormFields.parse(head.query), respond: respond)
        } else if path.starts(with: "/stats/torrents/".utf8), path.count == "/stats/torrents/".utf8.count + 45,
            path.suffix(5).elementsEqual(".json".utf8),
            let raw = Bytes20(hex: String(decoding: path.dropFirst("/stats/torrents/".utf8.count).dropLast(5), as: UTF8.self))
        {
            torrentJSON(InfoHash(raw), respond: respond)
        } else if path.elementsEqual("/metrics".utf8) {
            let (metrics, open, expiry) = (metrics, openConnections(), certificateExpiresIn)
            store.totals { result in
                let body = metrics.exposition(open: open, swarm: try? result.get(), certificateExpiresIn: expiry)
                respond(HTTPReply(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body))
            }
        } else if path.elementsEqual("/stats.php".utf8) {
            respond(.redirect(301, to: "/stats"))
        } else if path.elementsEqual("/".utf8) {
            respond(.text(200, "Squall \(Self.version) BitTorrent tracker: announce at /announce, statistics at /stats"))
        } else {
            respond(.text(404, "not found"))
        }
    }

    /// Seconds until the nearest certificate expires, when TLS is served.
    var certificateExpiresIn: Int? { tls.map { $0.current.nearestExpiry - Int(time(nil)) } }

    @Sendable private static func bareHealth(_ storeUp: Bool) -> String { #"{"status":"\#(storeUp ? "ok" : "unavailable")"}"# + "\n" }

    /// `{"status":"ok"|"unavailable","version":...,"store":"memory"|"redis"|"down",...}`
    @Sendable private func health(_ storeUp: Bool) -> String {
        let status = storeUp ? "ok" : "unavailable"
        var json = #"{"status":"\#(status)","version":"\#(Self.version)","store":"\#(storeUp ? store.kind : "down")""#
        if let s = certificateExpiresIn { json += #","certificate_expires_in":\#(s)"# }
        return json + "}\n"
    }

    private func announce(_ query: ArraySlice<UInt8>, remote: PeerAddress, respond: @escaping @Sendable (HTTPReply) -> Void) {
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
        let exempt = config.announce.quotaExempt.covers(remote)
        let quota =
            exempt
            ? SourceQuota.unlimited
            : SourceQuota(
                peersPerTorrent: config.announce.maxPeersPerSource, mayCreateTorrent: newTorrents.allows(source, minute: minute))
        let verb = AnnounceLogic.storeVerb(for: request, from: remote, policy: policy, quota: quota)
        let policy = policy
        let logger = logger
        let metrics = metrics
        let outages = outages
        let newTorrents = newTorrents
        let storeStarted = ContinuousClock.now
        store.announce(verb) { result in
            metrics.storeAnnounceLatency.recordInterval(since: storeStarted)
            switch result {
            case .success(let reply):
                outages.succeeded()
                if reply.createdTorrent, !exempt { newTorrents.charge(source, minute: minute) }
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
                respond(Self.storeFailed(e, metrics: metrics, outages: outages))
            }
        }
    }

    /// The reply to a request the store could not serve, counted in the metrics; an outage also
    /// goes to the outage log.
    private static func storeFailed(_ e: StoreError, metrics: TrackerMetrics, outages: OutageLog) -> HTTPReply {
        metrics.storeError(e)
        guard case .unavailable(let why) = e else { return .failure(e.failure) }
        outages.failed(why)
        return .failure(e.failure, unavailable: true)
    }

    private func scrape(_ query: ArraySlice<UInt8>, respond: @escaping @Sendable (HTTPReply) -> Void) {
        let hashes: [InfoHash]
        do {
            hashes = try query.withUnsafeBytes { (raw) throws(TrackerFailure) in
                try ScrapeParser.parse(query: raw, maxHashes: config.scrape.maxHashes)
            }
        } catch {
            respond(.failure(error as? TrackerFailure ?? TrackerFailure("malformed query")))
            return
        }
        let (metrics, storeStarted, outages) = (metrics, ContinuousClock.now, outages)
        let finish: @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void = { result in
            metrics.storeScrapeLatency.recordInterval(since: storeStarted)
            switch result {
            case .success(let files):
                outages.succeeded()
                var w = BencodeWriter(capacity: 16 + 100 * files.count)
                ResponseEncoding.scrape(files, into: &w)
                respond(.bencoded(w))
            case .failure(let e):
                respond(Self.storeFailed(e, metrics: metrics, outages: outages))
            }
        }
        if hashes.isEmpty {
            guard config.scrape.fullScrape else {
                respond(.failure(.fullScrapeDisabled))
                return
            }
            store.scrapeAll(limit: config.scrape.fullScrapeLimit, completion: finish)
        } else {
            store.scrape(hashes, completion: finish)
        }
    }

    /// `stats.allow` holds the client's address, the Host is one `stats.hosts` allows (no DNS
    /// rebinding) and, when `stats.token` is set, the request carries `Authorization: Bearer
    /// TOKEN` (digests compared in constant time: no length or prefix shows in the timing).
    private func statsAllowed(_ head: HTTPRequestHead, remote: PeerAddress) -> Bool {
        guard addressAllowed(remote), hosts.allows(head.host) else { return false }
        guard let token = config.stats.token else { return true }
        return Digest.sameSecret(head.authorization ?? [], Array(("Bearer " + token).utf8))
    }

    private func addressAllowed(_ remote: PeerAddress) -> Bool { config.stats.allow.covers(remote) }

    /// The summary as JSON: swarm totals, announces and scrapes by transport (totals and per
    /// second since start), uptime, version, store and its health, nearest certificate expiry.
    private func statsJSON(respond: @escaping @Sendable (HTTPReply) -> Void) {
        summary { respond(.json($0.json)) }
    }

    /// Reads what the page and `/stats.json` show: the store's totals and health, the counts.
    private func summary(_ body: @escaping @Sendable (StatsPage.Summary) -> Void) {
        let uptime = max(1, (ContinuousClock.now - started).components.seconds)
        let (kind, counts, expiry) = (store.kind, metrics.totals, certificateExpiresIn)
        let store = store
        store.totals { totals in
            store.health { up in
                body(
                    StatsPage.Summary(
                        version: Self.version, uptime: uptime, store: kind, storeUp: up, totals: try? totals.get(),
                        announces: counts.announces, scrapes: counts.scrapes, certificateExpiresIn: expiry))
            }
        }
    }

    /// DataTables' server-side protocol: `draw`, `start`, `length`, `search[value]` (an
    /// info_hash prefix), `order[0][column]` and `order[0][dir]`. Rows are
    /// `[info_hash, seeders, leechers, completed, IPv4 peers, IPv6 peers, seconds since the last announce]`.
    private func torrentsJSON(_ p: [String: String], respond: @escaping @Sendable (HTTPReply) -> Void) {
        // DataTables wants `draw` echoed as a number (never as the text sent).
        let draw = Int(p["draw"] ?? "") ?? 0
        let query = TorrentQuery(dataTables: p)
        rows.withTable { result in
            switch result {
            case .success(let table):
                let page = query.run(on: table)
                let data = page.rows.map {
                    "[\(JSONText.quoted($0.infoHash.raw.hex)),\($0.seeders),\($0.leechers),\($0.completed),\($0.ipv4),\($0.ipv6),\($0.idle)]"
                }
                respond(
                    .json(
                        #"{"draw":\#(draw),"recordsTotal":\#(page.total),"recordsFiltered":\#(page.filtered),"data":[\#(data.joined(separator: ","))]}"#
                            + "\n"))
            case .failure(let e):
                respond(.json(#"{"error":"\#(e.failure.reason)"}"# + "\n", status: 503))
            }
        }
    }

    /// One torrent's peers (at most 1000): peer_id in hex, the client decoded from it, role,
    /// families, port, seconds since the last announce; addresses only with
    /// `stats.show_peer_addresses`.
    private func torrentJSON(_ hash: InfoHash, respond: @escaping @Sendable (HTTPReply) -> Void) {
        let showAddresses = config.stats.showPeerAddresses
        store.peerRows(of: hash, limit: 1000) { result in
            switch result {
            case .success(nil):
                respond(.json(#"{"error":"unknown torrent"}"# + "\n", status: 404))
            case .success(let peers?):
                let items = peers.map { p -> String in
                    let role =
                        switch p.role {
                        case .seeder: "seeder"
                        case .leecher: "leecher"
                        case .partialSeed: "partial seed"
                        }
                    let families = [p.v4.map { _ in "\"ipv4\"" }, p.v6.map { _ in "\"ipv6\"" }].compactMap { $0 }
                    var item =
                        #"{"peer_id":\#(JSONText.quoted(p.peerID.raw.hex)),"client":\#(p.peerID.clientName.map(JSONText.quoted) ?? "null"),"#
                        + #""role":"\#(role)","families":[\#(families.joined(separator: ","))],"port":\#((p.v4 ?? p.v6)?.port ?? 0),"idle":\#(p.idle)"#
                    if showAddresses {
                        if let v4 = p.v4 { item += #","ipv4":\#(JSONText.quoted("\(v4.address)"))"# }
                        if let v6 = p.v6 { item += #","ipv6":\#(JSONText.quoted("\(v6.address)"))"# }
                    }
                    return item + "}"
                }
                respond(.json(#"{"info_hash":"\#(hash.raw.hex)","peers":[\#(items.joined(separator: ","))]}"# + "\n"))
            case .failure(let e):
                respond(.json(#"{"error":"\#(e.failure.reason)"}"# + "\n", status: 503))
            }
        }
    }

    /// The page: summary, first page of the table (server-rendered), scripts when present.
    private func stats(respond: @escaping @Sendable (HTTPReply) -> Void) {
        let assets = assets
        summary { summary in
            self.rows.withTable { table in
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
