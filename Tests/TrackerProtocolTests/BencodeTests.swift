import Testing
import TrackerCore

@testable import TrackerProtocol

@Suite struct BencodeTests {
    @Test(arguments: [0, 1, 9, 10, -1, -10, 1800, Int.max, Int.min + 1])
    func integersRoundTrip(_ v: Int) throws {
        var w = BencodeWriter()
        w.int(v)
        #expect(try BencodeValue.decode(w.bytes) == .int(v))
        #expect(String(decoding: w.bytes, as: UTF8.self) == "i\(v)e")
    }

    @Test func binaryStringsRoundTrip() throws {
        let all = (0...255).map(UInt8.init)
        var w = BencodeWriter()
        w.string(all)
        #expect(try BencodeValue.decode(w.bytes) == .bytes(all))
        #expect(Array(w.bytes.prefix(4)) == Array("256:".utf8))
    }

    @Test func decoderRejectsNonCanonicalInput() {
        for bad in ["i03e", "i-0e", "d1:b0:1:a0:e", "d1:a0:1:a0:e", "03:abc", "5:abc", "i1", "l", "d1:ae", "i1ei2e", "x"] {
            #expect(throws: BencodeValue.DecodeError.self, "\(bad)") { try BencodeValue.decode(Array(bad.utf8)) }
        }
    }

    static let peers = [
        SwarmPeer(peerID: PeerID(Array("-qB4650-000000000001".utf8))!, v4: Endpoint(address: .v4(IPv4Address(10, 0, 0, 1)), port: 6881)),
        SwarmPeer(
            peerID: PeerID(Array("-TR3000-000000000002".utf8))!,
            v4: Endpoint(address: .v4(IPv4Address(192, 168, 1, 2)), port: 51413),
            v6: Endpoint(address: .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x1)), port: 51414)),
        SwarmPeer(
            peerID: PeerID([UInt8](repeating: 0xFF, count: 20))!,
            v6: Endpoint(address: .v6(IPv6Address(high: 0xFE80_0000_0000_0000, low: 0xABCD)), port: 1)),
    ]

    func response(compact: Bool, noPeerID: Bool = false) -> AnnounceResponse {
        AnnounceResponse(
            interval: 1800, minInterval: 900, complete: 5, incomplete: 7, downloaded: 3, peers: Self.peers,
            externalIP: .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x99)), compact: compact, noPeerID: noPeerID)
    }

    @Test func compactAnnounceCarriesBothFamilies() throws {
        var w = BencodeWriter()
        ResponseEncoding.announce(response(compact: true), into: &w)
        let d = try BencodeValue.decode(w.bytes)  // also checks keys are sorted
        #expect(d["interval"] == .int(1800) && d["min interval"] == .int(900))
        #expect(d["complete"] == .int(5) && d["incomplete"] == .int(7) && d["downloaded"] == .int(3))
        #expect(d["peers"] == .bytes([10, 0, 0, 1, 0x1A, 0xE1, 192, 168, 1, 2, 0xC8, 0xD5]))
        let v6 = try #require(d["peers6"]?.bytesValue)
        #expect(v6.count == 36)
        #expect(Array(v6[0..<18]) == [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xC8, 0xD6])
        #expect(Array(v6[18..<36]) == [0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAB, 0xCD, 0, 1])
        #expect(d["external ip"]?.bytesValue?.count == 16)
    }

    /// A store that put an endpoint in the other family's field gets it left out of the compact
    /// lists, whose length prefixes still match their bytes.
    @Test func compactListsHoldOnlyTheirFamily() throws {
        let mixed = [
            SwarmPeer(
                peerID: PeerID(Array("-qB4650-000000000009".utf8))!,
                v4: Endpoint(address: .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x9)), port: 9),
                v6: Endpoint(address: .v4(IPv4Address(10, 0, 0, 9)), port: 9))
        ]
        var w = BencodeWriter()
        ResponseEncoding.announce(
            AnnounceResponse(
                interval: 1800, minInterval: 900, complete: 0, incomplete: 1, downloaded: 0, peers: Self.peers + mixed,
                externalIP: .v4(IPv4Address(127, 0, 0, 1)), compact: true, noPeerID: false),
            into: &w)
        let d = try BencodeValue.decode(w.bytes)
        #expect(d["peers"]?.bytesValue?.count == 12 && d["peers6"]?.bytesValue?.count == 36)
    }

    @Test func dictionaryModelListsEveryEndpoint() throws {
        var w = BencodeWriter()
        ResponseEncoding.announce(response(compact: false), into: &w)
        let list = try #require(try BencodeValue.decode(w.bytes)["peers"]?.listValue)
        #expect(list.count == 4)
        #expect(list[0]["ip"]?.stringValue == "10.0.0.1" && list[0]["port"] == .int(6881))
        #expect(list[0]["peer id"]?.bytesValue == Array("-qB4650-000000000001".utf8))
        #expect(list[2]["ip"]?.stringValue == "2001:db8::1")
        #expect(list[3]["ip"]?.stringValue == "fe80::abcd")

        var w2 = BencodeWriter()
        ResponseEncoding.announce(response(compact: false, noPeerID: true), into: &w2)
        let list2 = try #require(try BencodeValue.decode(w2.bytes)["peers"]?.listValue)
        #expect(list2.allSatisfy { $0["peer id"] == nil })
    }

    @Test func failureAndScrape() throws {
        var w = BencodeWriter()
        ResponseEncoding.failure(.missing("info_hash"), into: &w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == "d14:failure reason28:missing parameter: info_hashe")

        let h1 = InfoHash([UInt8](repeating: 0xFF, count: 20))!, h2 = InfoHash([UInt8](repeating: 0, count: 20))!
        var s = BencodeWriter()
        ResponseEncoding.scrape(
            [
                h1: ScrapeEntry(complete: 1, incomplete: 2, downloaded: 3, downloaders: 1),
                h2: ScrapeEntry(complete: 0, incomplete: 1, downloaded: 0, downloaders: 1),
            ], into: &s)
        let files = try #require(try BencodeValue.decode(s.bytes)["files"]?.dictEntries)
        #expect(files.map(\.0) == [h2.raw.bytes, h1.raw.bytes])
        #expect(
            files[1].1
                == .dict([
                    (Array("complete".utf8), .int(1)), (Array("downloaded".utf8), .int(3)),
                    (Array("downloaders".utf8), .int(1)), (Array("incomplete".utf8), .int(2)),
                ]))
    }

    /// UNIT3D-Announce's bytes, as `unit3d-contract.md` §1.4 gives them.
    @Test func privateRefusalsAreUnit3dAnnouncesBytes() {
        var f = BencodeWriter(capacity: 64)
        ResponseEncoding.failure("Invalid passkey.", interval: 5400, into: &f)
        #expect(String(decoding: f.bytes, as: UTF8.self) == "d14:failure reason16:Invalid passkey.8:intervali5400e12:min intervali5400ee")
        var w = BencodeWriter(capacity: 64)
        ResponseEncoding.warning("Torrent has been rejected.", interval: 30, into: &w)
        #expect(
            String(decoding: w.bytes, as: UTF8.self)
                == "d8:completei0e10:downloadedi0e10:incompletei0e8:intervali30e12:min intervali30e5:peers0:15:warning message26:Torrent has been rejected.e"
        )
    }
}
