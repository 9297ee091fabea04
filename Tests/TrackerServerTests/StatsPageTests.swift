import Foundation
import Testing
import TrackerProtocol
import TrackerServer
import TrackerTestSupport

/// The statistics page in a real browser: Debian's headless Chromium loads it with Debian's
/// jQuery, DataTables and Chart.js, after a few hundred announces, and the DOM it builds is
/// checked. The page reads `#order=`, `#search=` and `#torrent=` from the address, which is how
/// a sort, a search and the detail view are asked for here.
@Suite(.serialized) struct StatsPageTests {
    struct Page {
        var dom: String
        var console: [String]
        /// The text of each cell of each row of the table with `id`.
        func rows(_ id: String) -> [[String]] {
            guard let start = dom.range(of: "id=\"\(id)\"") else { return [] }
            let rest = dom[start.upperBound...]
            let table = rest[..<(rest.range(of: "</table>")?.lowerBound ?? rest.endIndex)]
            let body = table.range(of: "<tbody>").map { table[$0.upperBound...] } ?? table
            return body.components(separatedBy: "<tr").dropFirst().compactMap { row -> [String]? in
                let cells = row.components(separatedBy: "<td").dropFirst().map { cell -> String in
                    let text = cell.drop { $0 != ">" }.dropFirst()
                    return String(text[..<(text.range(of: "</td>")?.lowerBound ?? text.endIndex)])
                }
                return cells.isEmpty ? nil : cells
            }
        }
    }

    /// Loads `url` in headless Chromium; returns the DOM after the scripts ran and the console.
    static func open(_ url: String) throws -> Page {
        let profile = NSTemporaryDirectory() + "squall-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        p.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=10000",
            "--enable-logging=stderr", "--v=0", "--user-data-dir=" + profile,
            "--dump-dom", url,
        ]
        // The console goes to a file: reading two pipes in turn could stall on a full one.
        let log = NSTemporaryDirectory() + "squall-chromium-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try p.run()
        let dom = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errData = FileManager.default.contents(atPath: log) ?? Data()
        let console = String(decoding: errData, as: UTF8.self).split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        return Page(dom: String(decoding: dom, as: UTF8.self), console: console)
    }

    static let hostilePeer = Array("<script>alert(1)<!--".utf8)

    @Test func theTableSortsSearchesAndShowsPeersInABrowser() async throws {
        try await withRunningTracker { t throws in
            // 40 torrents of 1 to 13 peers, a third of them over IPv6, then one with a hostile peer_id.
            var announces = 0
            for n in 0..<40 {
                for i in 0..<(n % 13 + 1) {
                    let host = i % 3 == 0 ? "::1" : "127.0.0.1"
                    _ = try TestClient.get(
                        host, t.port, announceTarget(hash: testHash(UInt8(n + 100)), peer: testPeer("n\(n)i\(i)"), left: i % 2))
                    announces += 1
                }
            }
            let hostile = testHash(200)
            _ = try TestClient.get("127.0.0.1", t.port, announceTarget(hash: hostile, peer: Array("-qB4650-abcdefghijkl".utf8), left: 0))
            _ = try TestClient.get("127.0.0.1", t.port, announceTarget(hash: hostile, peer: Self.hostilePeer, left: 1))
            #expect(announces > 250)
            let base = "http://127.0.0.1:\(t.port)/stats"

            let bySeeders = try Self.open(base + "#order=1,desc")
            #expect(bySeeders.console.isEmpty, "\(bySeeders.console)")
            let rows = bySeeders.rows("torrents")
            #expect(rows.count == 25, "one page of 25 rows: \(rows.count)")
            let seeders = rows.compactMap { Int($0[1]) }
            #expect(seeders == seeders.sorted(by: >) && seeders.first == 7, "\(seeders)")
            #expect(bySeeders.dom.contains("Showing 1 to 25 of 41 entries"))
            #expect(bySeeders.dom.contains("<canvas id=\"announces-chart\""), "the charts are on the page")

            let byLeechers = try Self.open(base + "#order=2,asc")
            #expect(byLeechers.console.isEmpty, "\(byLeechers.console)")
            #expect(byLeechers.rows("torrents").compactMap { Int($0[2]) }.first == 0)

            let hex = hex20(testHash(105))
            let searched = try Self.open(base + "#search=" + hex.prefix(10))
            #expect(searched.console.isEmpty, "\(searched.console)")
            #expect(searched.rows("torrents").map { $0[0] } == [hex], "\(searched.rows("torrents"))")

            let detail = try Self.open(base + "#torrent=" + hex20(hostile))
            #expect(detail.console.isEmpty, "\(detail.console)")
            let peers = detail.rows("peers")
            #expect(peers.count == 2, "\(peers)")
            #expect(peers.contains { $0.count >= 3 && $0[1] == "qBittorrent 4.6.5.0" && $0[2] == "seeder" })
            #expect(peers.contains { $0.first == hex20(Self.hostilePeer) && $0[2] == "leecher" })
            #expect(!detail.dom.contains("<script>alert"), "the hostile peer_id never becomes markup")
        }
    }

    /// A tracker that has just started: each chart already has its first sample, on an axis
    /// from 0 (not the -1 to 1 Chart.js gives an all-zero series).
    @Test func aNewTrackersChartsStartAtZeroWithAFirstSample() async throws {
        try await withRunningTracker { t throws in
            let page = try Self.open("http://127.0.0.1:\(t.port)/stats")
            #expect(page.console.isEmpty, "\(page.console)")
            for id in ["announces-chart", "peers-chart"] {
                guard let start = page.dom.range(of: "<canvas id=\"\(id)\"") else {
                    Issue.record("no \(id) in \(page.dom)")
                    continue
                }
                let rest = page.dom[start.lowerBound...]
                let canvas = String(rest[..<(rest.firstIndex(of: ">") ?? rest.endIndex)])
                #expect(canvas.contains(#"data-y-min="0""#) && canvas.contains(#"data-y-max="1""#), "\(canvas)")
                #expect(!canvas.contains(#"data-points="0""#) && canvas.contains("data-points="), "\(canvas)")
            }
        }
    }

    @Test func withoutTheScriptsThePageStillShowsTheSummaryAndAFirstPage() async throws {
        try await withRunningTracker({ $0.stats.assetsDirectory = "/nonexistent" }) { t throws in
            for n in 0..<30 {
                _ = try TestClient.get("127.0.0.1", t.port, announceTarget(hash: testHash(UInt8(n)), peer: testPeer("p\(n)")))
            }
            let r = try TestClient.get("127.0.0.1", t.port, "/stats")
            let html = String(decoding: r.body, as: UTF8.self)
            #expect(r.status == 200 && !html.contains("<script"))
            #expect(Page(dom: html, console: []).rows("torrents").count == 25)
            #expect(html.contains("<th>Torrents</th><td>30</td>"))
            #expect(r.header("Content-Security-Policy")?.hasPrefix("default-src 'none'; script-src 'self'") == true)
            #expect(try TestClient.get("127.0.0.1", t.port, "/stats/assets/jquery/jquery.min.js").status == 404)
            #expect(try TestClient.get("127.0.0.1", t.port, "/stats/assets/squall-stats.js").status == 200)
            #expect(try TestClient.get("127.0.0.1", t.port, "/stats/assets/../../etc/passwd").status == 404)
        }
    }
}
