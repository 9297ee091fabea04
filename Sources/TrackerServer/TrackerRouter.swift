public import Logging
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
    static func failure(_ f: TrackerFailure) -> HTTPReply {
        var w = BencodeWriter(capacity: 64)
        ResponseEncoding.failure(f, into: &w)
        return bencoded(w)
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

    public init(store: any PeerStore, config: SquallConfig, logger: Logger, tls: (any TLSContextProvider)? = nil) {
        self.tls = tls
        self.store = store
        self.config = config
        self.policy = config.announce.policy
        self.logger = logger
    }

    /// Answers `head` from `remote`; `respond` is called exactly once, inline or later from the store.
    func route(_ head: HTTPRequestHead, remote: PeerAddress, respond: @escaping @Sendable (HTTPReply) -> Void) {
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
            let json = health
            store.health { up in
                respond(HTTPReply(status: up ? 200 : 503, contentType: "application/json", body: Array(json(up).utf8)))
            }
        } else if path.elementsEqual("/stats".utf8) {
            stats(respond: respond)
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
        let verb = AnnounceLogic.storeVerb(for: request, from: remote, policy: policy)
        let policy = policy
        let logger = logger
        store.announce(verb) { result in
            switch result {
            case .success(let reply):
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
                if case .unavailable(let why) = e { logger.error("store unavailable", metadata: ["reason": "\(why)"]) }
                respond(.failure(e.failure))
            }
        }
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
        let finish: @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void = { result in
            switch result {
            case .success(let files):
                var w = BencodeWriter(capacity: 16 + 100 * files.count)
                ResponseEncoding.scrape(files, into: &w)
                respond(.bencoded(w))
            case .failure(let e):
                respond(.failure(e.failure))
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

    private func stats(respond: @escaping @Sendable (HTTPReply) -> Void) {
        let uptime = (ContinuousClock.now - started).components.seconds
        let kind = store.kind
        store.totals { result in
            let rows: String
            switch result {
            case .success(let t):
                rows = [("Torrents", t.torrents), ("Peers", t.peers), ("Seeders", t.seeders), ("Leechers", t.leechers)]
                    .map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined()
            case .failure:
                rows = "<tr><th>Store</th><td>unavailable</td></tr>"
            }
            let html = """
                <!doctype html><html><head><meta charset="utf-8"><title>Squall tracker statistics</title></head>
                <body><h1>Squall \(Self.version)</h1><table>\(rows)<tr><th>Store</th><td>\(kind)</td></tr>\
                <tr><th>Uptime</th><td>\(uptime) s</td></tr></table></body></html>

                """
            respond(
                HTTPReply(
                    status: 200, contentType: "text/html; charset=utf-8", body: Array(html.utf8),
                    extraHeaders: ["Content-Security-Policy: default-src 'none'", "Cache-Control: no-store"]
                ))
        }
    }
}
