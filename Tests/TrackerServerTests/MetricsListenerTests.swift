import Foundation
import Testing
import TrackerServer
import TrackerTestSupport

/// `metrics.listen`: a listener for Prometheus on the monitoring network, outside `stats.allow`.
@Suite struct MetricsListenerTests {
    @Test func itServesMetricsHealthAndReadyToAnyoneAndNothingElse() async throws {
        // stats.allow admits nobody: only the metrics listener's address is the access rule.
        try await withRunningTracker({
            $0.stats.allow = []
            $0.metrics.listen = [ListenAddress(host: "::1", port: 0)]
        }) { t in
            let port = try #require(t.listeners.first { $0.metricsOnly }?.address.port)
            let scrape = try TestClient.get("::1", port, "/metrics")
            #expect(scrape.status == 200 && String(decoding: scrape.body, as: UTF8.self).contains("squall_requests_total"))
            #expect(try TestClient.get("::1", port, "/health").status == 200)
            #expect(try TestClient.get("::1", port, "/ready").status == 200)
            for other in ["/stats", "/stats.json", "/announce?info_hash=x", "/scrape", "/"] {
                #expect(try TestClient.get("::1", port, other).status == 404, "\(other)")
            }
            // The tracker's own listener still keeps /metrics to stats.allow.
            #expect(try t.get("::1", "/metrics").status == 403)
        }
    }

    @Test func theStatsTokenIsStillAskedFor() async throws {
        TestLogs.noteSecret("sekret-token")
        try await withRunningTracker({
            $0.stats.token = "sekret-token"
            $0.metrics.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        }) { t in
            let port = try #require(t.listeners.first { $0.metricsOnly }?.address.port)
            #expect(try TestClient.get("127.0.0.1", port, "/metrics").status == 403)
            let authorized = try TestClient.get("127.0.0.1", port, "/metrics", headers: ["Authorization: Bearer sekret-token"])
            #expect(authorized.status == 200)
        }
    }
}
