import Testing

@testable import RedisStore

/// Cluster redirects read from Redis are range-checked: a bad slot or port is no redirect.
@Suite struct RedirectTests {
    @Test func movedAndAskParse() {
        let moved = Redirect("MOVED 3999 127.0.0.1:6381")
        #expect(moved?.slot == 3999 && moved?.ask == false && moved?.server == .tcp(host: "127.0.0.1", port: 6381))
        let ask = Redirect("ASK 0 [::1]:7000")
        #expect(ask?.ask == true && ask?.server == .tcp(host: "::1", port: 7000))
    }

    /// Regression: these trapped the process (an index past the slot table, a port past UInt16).
    @Test func outOfRangeSlotsAndPortsAreRefused() {
        for reply in [
            "MOVED 16384 127.0.0.1:6381", "MOVED -1 127.0.0.1:6381", "MOVED 99999999999999999999 127.0.0.1:1",
            "MOVED 5 127.0.0.1:65536", "MOVED 5 127.0.0.1:0", "ASK 5 127.0.0.1:-3", "MOVED 5 127.0.0.1", "MOVED five 127.0.0.1:1",
        ] {
            #expect(Redirect(reply) == nil, "\(reply)")
        }
    }
}
