import Testing
import TrackerCore

@testable import TrackerProtocol

/// Clients send anything; parsers answer every input with a value or a named failure.
@Suite struct RandomInputTests {
    /// Random bytes biased towards the characters the parsers look at.
    static func noise(_ rng: inout SplitMix64, length: Int) -> [UInt8] {
        let interesting = Array("%&=?+ \r\n:GETHTTP/1.0info_hashpeer_idportleft0123456789abcdefABCDEF".utf8)
        return (0..<length).map { _ in
            Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
    }

    @Test(arguments: 0..<8)
    func arbitraryBytesNeverCrashTheParsers(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        for _ in 0..<2000 {
            let bytes = Self.noise(&rng, length: Int.random(in: 0...300, using: &rng))
            _ = bytes.withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 512) }
            _ = bytes.withUnsafeBytes { raw in try? AnnounceParser.parse(query: raw) }
            _ = bytes.withUnsafeBytes { raw in try? ScrapeParser.parse(query: raw, maxHashes: 8) }
        }
    }

    @Test(arguments: 0..<4)
    func aHeadParsesTheSameWholeOrSplitAnywhere(seed: Int) {
        var rng = SplitMix64(seed: UInt64(1000 + seed))
        for _ in 0..<200 {
            let query = Self.noise(&rng, length: Int.random(in: 0...80, using: &rng)).filter { $0 > 0x20 && $0 != 0x7F }
            var text = Array("GET /announce?".utf8) + query + Array(" HTTP/1.1\r\n".utf8)
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                text += Array("X-\(Int.random(in: 0...99, using: &rng)): v\r\n".utf8)
            }
            text += Array("\r\n".utf8)
            let whole = text.withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192) }
            guard case .head(_, let consumed) = whole else {
                Issue.record("a well-formed head did not parse: \(String(decoding: text, as: UTF8.self))")
                continue
            }
            #expect(consumed == text.count)
            for cut in 0..<text.count {
                let prefix = Array(text[..<cut])
                #expect(prefix.withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192) } == .incomplete)
            }
        }
    }

    @Test(arguments: 0..<4)
    func validQueriesWithNoiseParseToTheirValues(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(2000 + seed))
        for _ in 0..<300 {
            let hash = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let peer = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let port = Int.random(in: 1...65535, using: &rng)
            let left = UInt64.random(in: 0...UInt64(1) << 50, using: &rng)
            var pairs = [
                "info_hash=\(PercentDecoding.encode(hash))", "peer_id=\(PercentDecoding.encode(peer))", "port=\(port)", "left=\(left)",
            ]
            // Unknown parameters and empty pairs in between change nothing.
            for _ in 0..<Int.random(in: 0...5, using: &rng) {
                pairs.insert(
                    ["x=1", "", "key=ab%2Bcd", "ipv6=%3A%3A1", "&"].randomElement(using: &rng)!,
                    at: Int.random(in: 0...pairs.count, using: &rng))
            }
            let r = try parseAnnounce(pairs.joined(separator: "&"))
            #expect(r.infoHash.raw.bytes == hash && r.peerID.raw.bytes == peer && Int(r.port) == port && r.left == left)
        }
    }
}
