import Testing

@testable import TrackerProtocol

func parseHead(_ s: String, max: Int = 8192) -> HTTPHeadParser.Outcome {
    Array(s.utf8).withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: max) }
}

@Suite struct HTTPHeadParserTests {
    @Test func forwardingHeadersAreKeptOnlyWhenAsked() throws {
        let text =
            "GET /announce?x HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nx-real-ip: 198.51.100.2\r\nX-FORWARDED-FOR:10.0.0.2 \r\n\r\n"
        let asked = Array(text.utf8).withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192, forwardingHeaders: true) }
        guard case .head(let h, _) = asked else { Issue.record("no head"); return }
        // Several header lines are one list, in order (RFC 9110 section 5.3).
        #expect(h.forwardedFor == Array("203.0.113.7, 10.0.0.1,10.0.0.2".utf8))
        #expect(h.realIP == Array("198.51.100.2".utf8))
        guard case .head(let plain, _) = parseHead(text) else { Issue.record("no head"); return }
        #expect(plain.forwardedFor == nil && plain.realIP == nil)
    }

    @Test func parsesAGetWithQuery() throws {
        let text = "GET /announce?info_hash=a&port=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: qBittorrent/4.6.5\r\n\r\n"
        guard case .head(let h, let consumed) = parseHead(text + "GET /next") else { Issue.record("no head"); return }
        #expect(consumed == text.utf8.count)
        #expect(h.method == .get && h.minorVersion == 1 && h.keepAlive)
        #expect(Array(h.path) == Array("/announce".utf8))
        #expect(Array(h.query) == Array("info_hash=a&port=1".utf8))
    }

    @Test func connectionSemantics() throws {
        func keepAlive(_ s: String) -> Bool? {
            if case .head(let h, _) = parseHead(s) { return h.keepAlive }
            return nil
        }
        #expect(keepAlive("GET / HTTP/1.1\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.1\nHost: a\n\n") == true, "bare LF line endings")
        #expect(keepAlive("\r\nGET / HTTP/1.1\r\n\r\n") == true, "a leading empty line")
    }

    @Test func methodsAndBodies() throws {
        guard case .head(let h, _) = parseHead("HEAD /stats HTTP/1.1\r\n\r\n") else { Issue.record(); return }
        #expect(h.method == .head)
        guard case .head(let p, _) = parseHead("POST /announce HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello") else { Issue.record(); return }
        #expect(p.method == .other && p.contentLength == 5)
        guard case .head(let t, _) = parseHead("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") else { Issue.record(); return }
        #expect(t.hasTransferEncoding)
    }

    @Test func everySplitPointIsIncompleteUntilTheEnd() {
        let text = "GET /announce?x=1 HTTP/1.1\r\nHost: tracker\r\nAccept: */*\r\n\r\n"
        let bytes = Array(text.utf8)
        for cut in 0..<bytes.count {
            let outcome = Array(bytes[..<cut]).withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192) }
            #expect(outcome == .incomplete, "cut at \(cut)")
        }
        if case .head(_, let n) = parseHead(text) { #expect(n == bytes.count) } else { Issue.record() }
    }

    @Test(arguments: [
        "GARBAGE\r\n\r\n",
        "GET /\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET / HTTX/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /a\u{01}b HTTP/1.1\r\n\r\n",
        "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    ])
    func malformedHeadsAreRefused(_ text: String) {
        #expect(parseHead(text) == .failure(.malformed))
    }

    @Test func versionsAndSizes() {
        #expect(parseHead("GET / HTTP/2.0\r\n\r\n") == .failure(.unsupportedVersion))
        #expect(parseHead("GET / HTTP/1.2\r\n\r\n") == .failure(.unsupportedVersion))
        let long = "GET /" + String(repeating: "a", count: 600) + " HTTP/1.1\r\n\r\n"
        #expect(parseHead(long, max: 512) == .failure(.tooLarge))
        #expect(parseHead(String(repeating: "a", count: 600), max: 512) == .failure(.tooLarge))
        #expect(parseHead(String(repeating: "a", count: 100), max: 512) == .incomplete)
    }
}

/// The Host is kept for the routes that check it, and skipped on the announce hot path.
@Suite struct HostHeaderTests {
    func head(_ text: String) -> HTTPRequestHead? {
        guard case .head(let h, _) = Array(text.utf8).withUnsafeBytes({ HTTPHeadParser.parse($0, maxHeadBytes: 8192) }) else { return nil }
        return h
    }

    @Test func hostIsKeptForStatisticsAndSkippedForAnnounces() {
        #expect(head("GET /stats HTTP/1.1\r\nHost: Tracker.Example:6969\r\n\r\n")?.host == Array("Tracker.Example:6969".utf8))
        #expect(head("GET /metrics HTTP/1.1\r\nhost:  localhost \r\n\r\n")?.host == Array("localhost".utf8))
        #expect(head("GET /announce?info_hash=x HTTP/1.1\r\nHost: t\r\n\r\n")?.host == nil)
        #expect(head("GET /scrape HTTP/1.1\r\nHost: t\r\n\r\n")?.host == nil)
        #expect(head("GET /stats HTTP/1.1\r\n\r\n")?.host == nil)
    }

    @Test func clientHeadersOnlyWhenAsked() throws {
        let text = "GET /announce/k?x=1 HTTP/1.1\r\nUser-Agent:  qBittorrent/5.0.0 \r\nReferer: x\r\n\r\n"
        guard case .head(let plain, _) = parseHead(text) else { throw HTTPHeadError.malformed }
        #expect(plain.userAgent == nil && !plain.hasBrowserHeaders)
        let asked = Array(text.utf8).withUnsafeBytes { HTTPHeadParser.parse($0, maxHeadBytes: 8192, clientHeaders: true) }
        guard case .head(let head, _) = asked else { throw HTTPHeadError.malformed }
        #expect(head.userAgent == Array("qBittorrent/5.0.0".utf8) && head.hasBrowserHeaders)
        for name in ["Accept-Language: en", "accept-charset: utf-8", "REFERER: http://x"] {
            let t = "GET / HTTP/1.1\r\nUser-Agent: a\r\n\(name)\r\n\r\n"
            guard
                case .head(let h, _) = Array(t.utf8).withUnsafeBytes({ HTTPHeadParser.parse($0, maxHeadBytes: 8192, clientHeaders: true) })
            else { throw HTTPHeadError.malformed }
            #expect(h.hasBrowserHeaders, "\(name)")
        }
        let aria2 = "GET / HTTP/1.1\r\nUser-Agent: aria2/1.36.0\r\nWant-Digest: SHA-512;q=1\r\n\r\n"
        guard
            case .head(let a, _) = Array(aria2.utf8).withUnsafeBytes({ HTTPHeadParser.parse($0, maxHeadBytes: 8192, clientHeaders: true) })
        else { throw HTTPHeadError.malformed }
        #expect(!a.hasBrowserHeaders)
    }
}
