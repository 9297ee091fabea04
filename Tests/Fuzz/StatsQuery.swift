import TrackerCore

/// The statistics table's DataTables parameters (`FormFields`, `TorrentQuery(dataTables:)`)
/// run against 30,000 torrents: no crash, a page within its bounds and in its order, and no
/// input slow enough to trip the fuzzer's timeout (a page must never take long, wherever it is served from).
let table: TorrentTable = {
    var rng = SplitMix64(seed: 11)
    let rows = (0..<30_000).map { i in
        TorrentRow(
            infoHash: InfoHash(Bytes20(w0: UInt32(truncatingIfNeeded: rng.next()), w1: UInt32(i), w2: 0, w3: 0, w4: 0)),
            seeders: Int(rng.next() % 50), leechers: Int(rng.next() % 50), completed: Int(rng.next() % 9), ipv4: 1, ipv6: 0,
            idle: UInt32(rng.next() % 3600))
    }
    return TorrentTable(rows: rows)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStatsQuery(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let query = TorrentQuery(dataTables: FormFields.parse(bytes[...]))
    let page = query.run(on: table)
    if page.rows.count > min(query.length, TorrentQuery.maxLength) { fatalError("\(page.rows.count) rows for length \(query.length)") }
    if page.filtered > page.total || page.total != table.rows.count { fatalError("filtered \(page.filtered) of \(page.total)") }
    let keys = page.rows.map { TorrentQuery.sortKey($0, query.order) }
    for (a, b) in zip(keys, keys.dropFirst()) where query.ascending ? a > b : a < b {
        fatalError("page out of order for \(query.order) ascending \(query.ascending)")
    }
    return 0
}
