public import Logging
public import TrackerCore
import TrackerProtocol

/// One scrape: the hashes parsed (none: a full scrape, when allowed), the store, the bencoded
/// files. Called by the router and by `squall-bench pipeline`.
public struct ScrapeEndpoint: Sendable {
    let store: any PeerStore
    /// `scrape.*` in force (SIGHUP may change them).
    let live: LiveConfig
    let metrics: TrackerMetrics
    let outages: OutageLog
    /// Where a full scrape runs (a walk over every torrent, never on an event loop); nil: inline
    /// (the benchmark's).
    let bulk: BulkWork?

    init(store: any PeerStore, live: LiveConfig, metrics: TrackerMetrics, outages: OutageLog, bulk: BulkWork? = nil) {
        (self.store, self.live, self.metrics, self.outages, self.bulk) = (store, live, metrics, outages, bulk)
    }

    /// With metrics and an outage log of its own (the benchmark's).
    public init(store: any PeerStore, settings: SquallConfig.ScrapeSettings = .init(), logger: Logger) {
        var config = SquallConfig()
        config.scrape = settings
        self.init(store: store, live: LiveConfig(config), metrics: TrackerMetrics(), outages: OutageLog(logger: logger))
    }

    /// Answers the scrape `query`; `respond` is called once, inline or later from the store.
    public func serve(_ query: ArraySlice<UInt8>, respond: @escaping @Sendable (HTTPReply) -> Void) {
        serve(query, in: live.current, respond: respond)
    }

    /// The same, under the configuration the router read for this request.
    func serve(_ query: ArraySlice<UInt8>, in current: LiveConfig.Current, respond: @escaping @Sendable (HTTPReply) -> Void) {
        let settings = current.config.scrape
        let hashes: [InfoHash]
        do {
            hashes = try query.withUnsafeBytes { (raw) throws(TrackerFailure) in
                try ScrapeParser.parse(query: raw, maxHashes: settings.maxHashes)
            }
        } catch {
            respond(.failure(error as? TrackerFailure ?? TrackerFailure("malformed query")))
            return
        }
        if hashes.isEmpty {
            guard settings.fullScrape else {
                respond(.failure(.fullScrapeDisabled))
                return
            }
            let (store, limit, finish) = (store, settings.fullScrapeLimit, finish(respond))
            guard let bulk else { return store.scrapeAll(limit: limit, completion: finish) }
            // As bulk work: bounded with the statistics, and 503 at once when that is full.
            let submitted = bulk.submit {
                do throws(StoreError) {
                    finish(.success(try await store.scrapeAll(limit: limit)))
                } catch {
                    finish(.failure(error))
                }
            }
            if !submitted { respond(.busy) }
        } else {
            scrape(hashes, respond: respond)
        }
    }

    /// The store's figures for `hashes`, bencoded (a private scrape calls it with the hashes it
    /// allows).
    func scrape(_ hashes: [InfoHash], respond: @escaping @Sendable (HTTPReply) -> Void) {
        store.scrape(hashes, completion: finish(respond))
    }

    private func finish(_ respond: @escaping @Sendable (HTTPReply) -> Void)
        -> @Sendable (Result<[InfoHash: ScrapeEntry], StoreError>) -> Void
    {
        let (metrics, storeStarted, outages) = (metrics, ContinuousClock.now, outages)
        return { result in
            metrics.storeScrapeLatency.recordInterval(since: storeStarted)
            switch result {
            case .success(let files):
                outages.succeeded()
                var w = BencodeWriter(capacity: 16 + 100 * files.count)
                ResponseEncoding.scrape(files, into: &w)
                respond(.bencoded(w))
            case .failure(let e):
                respond(.storeFailed(e, metrics: metrics, outages: outages))
            }
        }
    }
}
