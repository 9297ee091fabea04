import TrackerCore
import TrackerProtocol

/// Announce and scrape query parsing: no crash, what is accepted stays within the bounds the
/// tracker relies on (port 1-65535, numwant not negative, at most 64 hashes; counters are
/// unsigned by type), and an accepted request written back by `AnnounceRequest.query` (without
/// its key, which it keeps only as a digest) parses to the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAnnounce(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let request = try? AnnounceParser.parse(query: bytes) {
        if request.port == 0 { fatalError("port 0 accepted") }
        if let n = request.numwant, n < 0 { fatalError("negative numwant accepted: \(n)") }
        var unkeyed = request
        unkeyed.key = .none
        let again = Array(unkeyed.query().utf8).withUnsafeBytes { try? AnnounceParser.parse(query: $0) }
        if again != unkeyed { fatalError("\(unkeyed) wrote \(unkeyed.query()), read back as \(String(describing: again))") }
    }
    if let hashes = try? ScrapeParser.parse(query: bytes, maxHashes: 64), hashes.count > 64 {
        fatalError("\(hashes.count) hashes accepted")
    }
    return 0
}
