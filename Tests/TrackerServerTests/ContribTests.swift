import Foundation
import Testing
import TrackerServer
import TrackerTLS
import TrackerTestSupport

/// What `contrib/` ships for monitoring: the alert rules pass promtool (syntax and their unit
/// tests), and every query of the Grafana dashboard names metrics a live scrape contains.
@Suite struct ContribTests {
    static func promtool(_ args: [String]) throws -> (status: Int32, output: String) {
        try runTool("/usr/bin/promtool", args, in: repoRoot.appendingPathComponent("contrib/prometheus"))
    }

    @Test func alertRulesCheckAndPassTheirTests() throws {
        let check = try Self.promtool(["check", "rules", "squall-alerts.yml"])
        #expect(check.status == 0 && check.output.contains("SUCCESS: 5 rules found"), "\(check.output)")
        let tests = try Self.promtool(["test", "rules", "squall-alerts.test.yml"])
        #expect(tests.status == 0 && tests.output.contains("SUCCESS"), "\(tests.output)")
    }

    /// Every `expr` and variable query in a JSON document.
    static func queries(_ v: Any) -> [String] {
        if let d = v as? [String: Any] {
            return d.flatMap { key, value -> [String] in
                if (key == "expr" || key == "query"), let s = value as? String { return [s] }
                return queries(value)
            }
        }
        if let a = v as? [Any] { return a.flatMap(queries) }
        return []
    }

    @Test func everyDashboardQueryNamesAMetricALiveScrapeHas() async throws {
        let data = try Data(contentsOf: repoRoot.appendingPathComponent("contrib/grafana/squall-dashboard.json"))
        let queries = Self.queries(try JSONSerialization.jsonObject(with: data)).filter { $0 != "prometheus" }
        #expect(queries.count >= 12)
        var names = Set<String>()
        let pattern = try NSRegularExpression(pattern: #"\b(squall|process)_[a-z_]+"#)
        for q in queries {
            let found = pattern.matches(in: q, range: NSRange(q.startIndex..., in: q)).map { String(q[Range($0.range, in: q)!]) }
            #expect(!found.isEmpty, "a query naming no Squall metric: \(q)")
            names.formUnion(found)
        }
        let f = try TLSFixtures()
        defer { f.cleanup() }
        try await withRunningTracker(tls: try ReloadableTLSContexts(pairs: [(f.cert, f.key)])) { t in
            _ = try t.announce("127.0.0.1", hash: testHash(120), peer: testPeer("dash"), left: 1)
            let scrape = String(decoding: try t.get("127.0.0.1", "/metrics").body, as: UTF8.self)
            let series = Set(
                scrape.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != "{" && $0 != " " }) })
            for name in names.sorted() {
                #expect(series.contains(name), "the dashboard reads \(name), which no scrape has")
            }
        }
    }
}
