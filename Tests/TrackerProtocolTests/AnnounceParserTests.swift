import Testing
import TrackerCore

@testable import TrackerProtocol

func parseAnnounce(_ query: String) throws(TrackerFailure) -> AnnounceRequest {
    let bytes = Array(query.utf8)
    return try bytes.withUnsafeBytes { raw -> Result<AnnounceRequest, TrackerFailure> in
        do throws(TrackerFailure) { return .success(try AnnounceParser.parse(query: raw)) } catch { return .failure(error) }
    }.get()
}

let hashBytes: [UInt8] = Array(0..<20).map { UInt8($0 * 13 & 0xFF) }
let peerBytes: [UInt8] = Array("-qB4650-abcdefghijkl".utf8)
let base =
    "info_hash=\(PercentDecoding.encode(hashBytes))&peer_id=\(PercentDecoding.encode(peerBytes))&port=6881&uploaded=1&downloaded=2&left=3"

@Suite struct AnnounceParserTests {
    @Test func parsesEveryField() throws {
        let r = try parseAnnounce(base + "&event=started&numwant=30&compact=1&no_peer_id=1&key=abcd&corrupt=0")
        #expect(
            r
                == AnnounceRequest(
                    infoHash: InfoHash(hashBytes)!, peerID: PeerID(peerBytes)!, port: 6881, uploaded: 1, downloaded: 2, left: 3,
                    event: .started, numwant: 30, compact: true, noPeerID: true, key: PeerKey(bytes: Array("abcd".utf8))))
    }

    /// BEP 7's key is compared after percent-decoding; an empty one is no key, and the first wins.
    @Test func theKeyIsDecodedAndDigested() throws {
        let plain = try parseAnnounce(base + "&key=Ab%2F1")
        #expect(plain.key == PeerKey(bytes: Array("Ab/1".utf8)) && !plain.key.isNone)
        #expect(try parseAnnounce(base + "&key=%41b%2f1").key == plain.key)
        #expect(try parseAnnounce(base + "&key=Ab%2F2").key != plain.key)
        #expect(try parseAnnounce(base + "&key=").key == .none)
        #expect(try parseAnnounce(base).key == .none)
        #expect(try parseAnnounce(base + "&key=Ab%2F1&key=zz").key == plain.key)
        // A stray % stands for itself rather than failing the announce.
        #expect(try parseAnnounce(base + "&key=50%").key == PeerKey(bytes: Array("50%".utf8)))
        #expect(PeerKey.none.matches(.none) == false, "no key never matches, not even no key")
        // aria2's key is the end of its peer_id, which replies show: no secret, so no key.
        #expect(try parseAnnounce(base + "&key=cdefghijkl").key == .none)
        #expect(try parseAnnounce(base + "&key=%63defghijkl").key == .none)
        #expect(try parseAnnounce(base + "&key=cdefghijkm").key != .none)
    }

    @Test func everyByteValueRoundTripsThroughInfoHash() throws {
        // 13 hashes cover all 256 byte values; both hex cases must decode the same.
        for chunk in stride(from: 0, to: 256, by: 20) {
            let bytes = (0..<20).map { UInt8((chunk + $0) % 256) }
            let upper = PercentDecoding.encode(bytes)
            // Lower-case only the hex digits of escapes, not raw letters.
            let lower = bytes.map { b in
                PercentDecoding.encode([b]).hasPrefix("%") ? PercentDecoding.encode([b]).lowercased() : PercentDecoding.encode([b])
            }.joined()
            for encoded in [upper, lower] {
                let r = try parseAnnounce("info_hash=\(encoded)&peer_id=\(encoded)&port=1&left=0")
                #expect(r.infoHash.raw.bytes == bytes)
                #expect(r.peerID.raw.bytes == bytes)
            }
        }
    }

    @Test func plusIsALiteralPlusAndUnreservedBytesPassRaw() throws {
        // "+" must not become a space: a hash containing 0x2B sent raw.
        let r = try parseAnnounce("info_hash=++++++++++aaaaaaaaaa&peer_id=-TR3000-%2b%2B++++++++++&port=1&left=0")
        #expect(r.infoHash.raw.bytes == Array(repeating: 0x2B, count: 10) + Array(repeating: 0x61, count: 10))
        #expect(r.peerID.raw.bytes == Array("-TR3000-".utf8) + Array(repeating: 0x2B, count: 12))
    }

    @Test(arguments: [
        ("port=1&left=0&peer_id=\(String(repeating: "a", count: 20))", "missing parameter: info_hash"),
        ("info_hash=\(String(repeating: "a", count: 20))&port=1&left=0", "missing parameter: peer_id"),
        ("info_hash=\(String(repeating: "a", count: 20))&peer_id=\(String(repeating: "a", count: 20))&left=0", "missing parameter: port"),
        ("info_hash=\(String(repeating: "a", count: 20))&peer_id=\(String(repeating: "a", count: 20))&port=1", "missing parameter: left"),
    ])
    func missingParametersAreNamed(query: String, reason: String) {
        #expect(throws: TrackerFailure(reason)) { try parseAnnounce(query) }
    }

    @Test(arguments: [
        ("info_hash=abc", "info_hash"),
        ("info_hash=\(String(repeating: "a", count: 21))", "info_hash"),
        ("info_hash=\(String(repeating: "%61", count: 19))%6", "info_hash"),
        ("info_hash=\(String(repeating: "a", count: 19))%zz", "info_hash"),
        ("peer_id=short", "peer_id"),
        ("port=0", "port"),
        ("port=65536", "port"),
        ("port=-1", "port"),
        ("port=80a", "port"),
        ("port=", "port"),
        ("left=-5", "left"),
        ("uploaded=1.5", "uploaded"),
        ("downloaded=99999999999999999999", "downloaded"),
        ("event=finished", "event"),
    ])
    func malformedParametersAreNamed(bad: String, name: String) {
        // The bad value comes first, so it wins over the valid one in `base`.
        do {
            _ = try parseAnnounce(bad + "&" + base)
            Issue.record("accepted \(bad)")
        } catch {
            #expect(error.reason.hasPrefix("invalid parameter \(name):"), "\(error.reason)")
        }
    }

    @Test func firstOfRepeatedParametersWins() throws {
        let r = try parseAnnounce(base + "&port=9999&left=0&event=stopped&event=started&numwant=5&numwant=7")
        #expect(r.port == 6881 && r.left == 3 && r.event == .stopped && r.numwant == 5)
    }

    @Test func tolerantAboutNumwantCompactAndUnknowns() throws {
        #expect(try parseAnnounce(base + "&numwant=-1").numwant == nil)
        #expect(try parseAnnounce(base + "&numwant=lots").numwant == nil)
        #expect(try parseAnnounce(base + "&numwant=1000000").numwant == 1_000_000)
        #expect(try parseAnnounce(base).compact == true)
        #expect(try parseAnnounce(base + "&compact=0").compact == false)
        #expect(try parseAnnounce(base + "&supportcrypto=1&requirecrypto=0&ipv6=%3A%3A1&ip=1.2.3.4&&=&x").port == 6881)
        #expect(try parseAnnounce(base + "&event=").event == AnnounceEvent.none)
        #expect(try parseAnnounce(base + "&event=paused").event == .paused)
        #expect(
            try parseAnnounce("info_hash=\(String(repeating: "a", count: 20))&peer_id=\(String(repeating: "b", count: 20))&port=1&left=0")
                .uploaded == 0)
    }

    /// Named regression inputs: what real clients send, and every field they must read as.
    static let realClients: [(name: String, query: String, expected: AnnounceRequest)] = [
        (
            // libtorrent 2.0 under qBittorrent 4.6, IPv4, mixed-case escapes from a hand-built URL.
            "qBittorrent 4.6",
            "info_hash=%12%34Vx%9A%bc%DE%f0%11%22%33%44%55%66%77%88%99%aa%BB%cc&peer_id=-qB4650-t~W1m8Yk(Zz!&port=8999&uploaded=0&downloaded=0&left=1048576&corrupt=0&key=0A1B2C3D&event=started&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
            AnnounceRequest(
                infoHash: InfoHash([
                    0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC,
                ])!, peerID: PeerID(Array("-qB4650-t~W1m8Yk(Zz!".utf8))!, port: 8999, left: 1_048_576, event: .started, numwant: 200,
                noPeerID: true, key: PeerKey(bytes: Array("0A1B2C3D".utf8)))
        ),
        (
            // Unescaped unreserved bytes, "-TR3000-" prefix.
            "Transmission 3.00",
            "info_hash=.-_~0123456789ABCDEF&peer_id=-TR3000-0q6l5w8k7a3v&port=51413&uploaded=0&downloaded=0&left=0&numwant=80&key=6b5ac1d2&compact=1&supportcrypto=1&event=started",
            AnnounceRequest(
                infoHash: InfoHash(Array(".-_~0123456789ABCDEF".utf8))!, peerID: PeerID(Array("-TR3000-0q6l5w8k7a3v".utf8))!, port: 51413,
                left: 0, event: .started, numwant: 80, key: PeerKey(bytes: Array("6b5ac1d2".utf8)))
        ),
        (
            // Lower-case escapes, binary bytes in the peer_id, no event.
            "aria2",
            "info_hash=%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%00%00%00%00%00%00%00%00%00%00&peer_id=A2-1-36-0-%c0%de%ca%fe%01%02%03%04%05%06&uploaded=0&downloaded=0&left=0&compact=1&key=abcd&numwant=50&no_peer_id=1&port=6881",
            AnnounceRequest(
                infoHash: InfoHash([UInt8](repeating: 0xFF, count: 10) + [UInt8](repeating: 0, count: 10))!,
                peerID: PeerID(Array("A2-1-36-0-".utf8) + [0xC0, 0xDE, 0xCA, 0xFE, 1, 2, 3, 4, 5, 6])!, port: 6881, left: 0, numwant: 50,
                noPeerID: true, key: PeerKey(bytes: Array("abcd".utf8)))
        ),
    ]

    @Test(arguments: realClients.indices)
    func realClientQueriesReadAsTheirFields(_ i: Int) throws {
        let c = Self.realClients[i]
        #expect(try parseAnnounce(c.query) == c.expected, "\(c.name)")
    }
}

@Suite struct ScrapeParserTests {
    func parse(_ q: String, max: Int = 5) throws(TrackerFailure) -> [InfoHash] {
        try Array(q.utf8).withUnsafeBytes { raw -> Result<[InfoHash], TrackerFailure> in
            do throws(TrackerFailure) { return .success(try ScrapeParser.parse(query: raw, maxHashes: max)) } catch {
                return .failure(error)
            }
        }.get()
    }

    @Test func collectsEveryHashInOrderWithoutDuplicates() throws {
        let a = String(repeating: "a", count: 20), b = String(repeating: "%00", count: 20)
        let hashes = try parse("info_hash=\(a)&info_hash=\(b)&info_hash=\(a)&x=1")
        #expect(hashes.map(\.raw.bytes) == [Array(a.utf8), [UInt8](repeating: 0, count: 20)])
        #expect(try parse("").isEmpty)
    }

    @Test func boundsAndLengthsAreChecked() {
        let many = (0..<6).map { "info_hash=\(String(repeating: "a", count: 19))\($0)" }.joined(separator: "&")
        #expect(throws: TrackerFailure.tooManyHashes(max: 5)) { try parse(many) }
        #expect(throws: TrackerFailure.invalid("info_hash", "must be 20 bytes")) { try parse("info_hash=short") }
    }
}

/// `AnnounceRequest.query` writes what the parser reads back, field for field.
@Suite struct AnnounceWriterTests {
    @Test func everyFieldRoundTrips() throws {
        let all = (0..<20).map { UInt8($0 * 37 & 0xFF) }
        let cases = [
            AnnounceRequest(infoHash: InfoHash(hashBytes)!, peerID: PeerID(peerBytes)!, port: 1, left: 0),
            AnnounceRequest(
                infoHash: InfoHash(all)!, peerID: PeerID(all.reversed())!, port: 65535, uploaded: UInt64.max / 2, downloaded: 7,
                left: 9_999_999_999, event: .paused, numwant: 0, compact: false, noPeerID: true),
            AnnounceRequest(infoHash: InfoHash(all)!, peerID: PeerID(peerBytes)!, port: 6881, left: 1, event: .stopped, numwant: 200),
        ]
        for request in cases {
            #expect(try parseAnnounce(request.query()) == request)
            let everyByte = request.query(everyByte: true)
            #expect(try parseAnnounce(everyByte) == request)
            #expect(everyByte.hasPrefix("info_hash=%") && everyByte.split(separator: "&")[0].count == "info_hash=".count + 60)
            var keyed = request
            keyed.key = PeerKey(bytes: [0x00, 0xFF, 0x25, 0x26])
            #expect(try parseAnnounce(request.query(key: [0x00, 0xFF, 0x25, 0x26])) == keyed)
        }
        // aria2's key, the end of its peer_id, reads back as no key.
        let aria = cases[0]
        #expect(try parseAnnounce(aria.query(key: Array(peerBytes.suffix(8)))).key == .none)
    }
}
