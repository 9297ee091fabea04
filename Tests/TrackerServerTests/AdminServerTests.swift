import Foundation
import Logging
import NIOCore
import Testing
import TrackerCore
import TrackerTestSupport

@testable import TrackerServer

/// The site API's listener holds no connection for a client that trickles a request's body
/// (each byte read resets the idle timeout): the whole request must arrive within the request
/// timeout of its first byte, while a kept-alive connection that sends whole requests stays
/// open across many timeouts.
@Suite struct AdminServerTests {
    @Test func aTrickledRequestIsCutAtItsDeadlineAndWholeOnesKeepTheConnection() async throws {
        try await withRunningTracker(PrivateModeTests.configure) { t in
            let tracker = try #require(t.privateTracker)
            let logger = TestLogs.logger(level: .trace)
            let api = AdminAPI(tracker: tracker, key: Array(PrivateModeTests.apiKey.utf8), store: t.store, logger: logger)
            var settings = SquallConfig.AdminSettings()
            settings.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
            let bulk = BulkWork(threads: 1, limit: 8)
            let runner = bulk.start()
            let server = AdminServer(
                api: api, settings: settings, group: t.group, bulk: bulk, logger: logger, requestTimeout: .seconds(1),
                idleTimeout: .seconds(120))
            let port = try #require(try await server.start().first?.port)

            // A whole head, then its body a byte every 200 ms for 3 s: not whole 1 s after its
            // first byte, so the server closes it and the later bytes cannot be sent (with no
            // deadline it would stay open: the idle timeout here is 120 s).
            let slow = try TestClient(host: "127.0.0.1", port: port, timeoutSeconds: 3)
            try slow.send(
                "PUT /announce/\(PrivateModeTests.apiKey)/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 1000\r\n\r\n")
            var refused = 0
            for _ in 0..<15 {
                do { try slow.send(Array("{".utf8)) } catch { refused += 1 }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(refused > 0, "\(refused) of 15 bytes refused")

            // Whole requests 0.7 s apart on one connection (more than the 1 s deadline in all):
            // each has its own deadline.
            let kept = try TestClient(host: "127.0.0.1", port: port, timeoutSeconds: 3)
            for n in 0..<3 {
                if n > 0 { try await Task.sleep(for: .milliseconds(700)) }
                try kept.send("GET /announce/\(PrivateModeTests.apiKey)/users/1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
                #expect(try kept.readResponse().status == 404, "request \(n + 1) answered (no such user)")
            }
            await server.stop()
            bulk.stop()
            await runner.value
            await bulk.shutdownPool()
        }
    }
}
