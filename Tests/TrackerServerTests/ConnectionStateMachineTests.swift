import NIOCore
import Testing
import TrackerProtocol
import TrackerTestSupport

@testable import TrackerServer

/// The connection state machine on a clock the tests move: no sockets, no channel.
@Suite struct ConnectionStateMachineTests {
    let limits = ConnectionLimits(
        maxHeaderBytes: 1024, idleTimeout: .seconds(60), headerTimeout: .seconds(10), writeTimeout: .seconds(5),
        maxUnflushedBytes: 100_000, maxPipelinedPerTurn: 4)
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func at(_ seconds: Int64) -> NIODeadline { t0 + .seconds(seconds) }
    func bytes(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    /// Routes the next request and answers it; returns the framing the reply was written with.
    func answer(_ m: inout ConnectionStateMachine, now: NIODeadline, close: Bool = false) -> ReplyFraming? {
        guard case .route = m.next(now: now), case .write(let framing) = m.replied(close: close, now: now) else { return nil }
        return framing
    }

    @Test func aSilentConnectionIsClosedAtTheHeaderTimeoutCountedFromAccept() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        #expect(m.tick(now: at(9), unflushed: 0) == .none)
        #expect(m.tick(now: at(10), unflushed: 0) == .close(.headerTimeout), "not the 60 s idle timeout")
    }

    @Test func aHeadArrivingByteByByteIsAnswered408AtTheHeaderTimeout() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        for (i, c) in "GET /announce".enumerated() {
            m.received(bytes(String(c)), now: at(Int64(i) / 2))
            #expect(m.next(now: at(Int64(i) / 2)) == .wait)
        }
        #expect(m.tick(now: at(10), unflushed: 0) == .timeout408, "each byte does not restart the clock")
        #expect(m.isClosing)
    }

    @Test func keepAliveWaitsForTheIdleTimeoutThenTheNextHeadHasItsOwnHeaderTimeout() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /a HTTP/1.1\r\n\r\n"), now: at(1))
        #expect(answer(&m, now: at(1))?.keepAlive == true)
        #expect(m.state == .idle(deadline: at(61)))
        #expect(m.tick(now: at(30), unflushed: 0) == .none, "past the header timeout, still idle")
        m.received(bytes("GET /b HT"), now: at(40))
        #expect(m.state == .readingHead(deadline: at(50)))
        #expect(m.tick(now: at(50), unflushed: 0) == .timeout408)
        var idle = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        idle.received(bytes("GET /a HTTP/1.1\r\n\r\n"), now: at(1))
        _ = answer(&idle, now: at(1))
        #expect(idle.tick(now: at(61), unflushed: 0) == .close(.idleTimeout))
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndAFewPerTurn() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes((1...6).map { "GET /\($0) HTTP/1.1\r\n\r\n" }.joined()), now: t0)
        var paths: [String] = []
        while case .route(let head, _) = m.next(now: t0) {
            paths.append(String(decoding: head.path, as: UTF8.self))
            _ = m.replied(close: false, now: t0)
        }
        #expect(paths == ["/1", "/2", "/3", "/4"])
        #expect(m.next(now: t0) == .yield)
        m.newTurn()
        while case .route(let head, _) = m.next(now: t0) {
            paths.append(String(decoding: head.path, as: UTF8.self))
            _ = m.replied(close: false, now: t0)
        }
        #expect(paths == ["/1", "/2", "/3", "/4", "/5", "/6"])
        #expect(m.next(now: t0) == .wait)
    }

    @Test func nothingIsRoutedOrReadWhileOutputIsBackedUp() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), now: t0)
        _ = answer(&m, now: t0)
        #expect(m.wantsRead)
        #expect(m.writabilityChanged(false) == false)
        #expect(!m.wantsRead, "a client that does not read is not read")
        #expect(m.next(now: t0) == .wait, "the second request waits")
        #expect(m.writabilityChanged(true) == true)
        #expect(m.wantsRead)
        guard case .route(let head, _) = m.next(now: t0) else {
            Issue.record("the second request is routed once output drains")
            return
        }
        #expect(head.path.elementsEqual("/2".utf8))
    }

    @Test func outputThatStopsDrainingIsClosedAtTheWriteTimeout() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\n\r\n"), now: t0)
        _ = answer(&m, now: t0)
        _ = m.writabilityChanged(false)
        #expect(m.tick(now: at(1), unflushed: 90_000) == .none)
        #expect(m.tick(now: at(4), unflushed: 80_000) == .none, "progress restarts the clock")
        #expect(m.tick(now: at(8), unflushed: 80_000) == .none)
        #expect(m.tick(now: at(9), unflushed: 80_000) == .close(.writeTimeout))
    }

    @Test func aClosingConnectionWhoseReplyIsNotReadIsClosedAtTheWriteTimeout() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\nConnection: close\r\n\r\n"), now: t0)
        #expect(answer(&m, now: t0)?.keepAlive == false)
        #expect(m.state == .closing)
        #expect(m.tick(now: at(1), unflushed: 5000) == .none)
        #expect(m.tick(now: at(6), unflushed: 5000) == .close(.writeTimeout))
    }

    @Test func aReplyOnTopOfTooMuchUnreadOutputClosesTheConnection() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\n\r\n"), now: t0)
        guard case .route = m.next(now: t0) else { return #expect(Bool(false)) }
        #expect(m.replied(close: false, unflushed: 100_001, now: t0) == .close(.unflushed))
        #expect(m.isClosing)
    }

    @Test func tooManyUnansweredBytesCloseTheConnection() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\n\r\n"), now: t0)
        guard case .route = m.next(now: t0) else { return #expect(Bool(false)) }
        // The request is with the store; the client keeps sending.
        #expect(m.received(bytes(String(repeating: "GET / HTTP/1.1\r\n\r\n", count: 300)), now: t0) == .buffered)
        #expect(!m.wantsRead, "reading stops past one head's worth of buffered bytes")
        #expect(m.received(bytes(String(repeating: "x", count: 4000)), now: t0) == .overflow)
    }

    @Test func pipelinedBytesBeyondTheBoundAfterAnsweringWhatItCanCloseTheConnection() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        // More than the 8 KiB bound arrives at once while output is backed up.
        _ = m.writabilityChanged(false)
        #expect(m.received(bytes(String(repeating: "GET / HTTP/1.1\r\n\r\n", count: 500)), now: t0) == .overflow)
        // The same bytes while writable: four are answered this turn, then the rest is too much.
        var w = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        #expect(w.received(bytes(String(repeating: "GET / HTTP/1.1\r\n\r\n", count: 500)), now: t0) == .buffered)
        for _ in 0..<4 {
            guard case .route = w.next(now: t0) else { return #expect(Bool(false)) }
            _ = w.replied(close: false, now: t0)
        }
        #expect(w.next(now: t0) == .close(.buffered))
        // Under the bound, the rest waits for the next turn.
        var ok = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        ok.received(bytes(String(repeating: "GET / HTTP/1.1\r\n\r\n", count: 10)), now: t0)
        for _ in 0..<4 {
            guard case .route = ok.next(now: t0) else { return #expect(Bool(false)) }
            _ = ok.replied(close: false, now: t0)
        }
        #expect(ok.next(now: t0) == .yield)
    }

    @Test func http10KeepAliveIsSaidAndHTTP10CloseIsTheDefault() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), now: t0)
        #expect(answer(&m, now: t0) == ReplyFraming(keepAlive: true, isHead: false, http10: true))
        var out = ByteBuffer()
        out.writeReply(.text(200, "ok"), ReplyFraming(keepAlive: true, isHead: false, http10: true))
        #expect(String(buffer: out).contains("\r\nConnection: keep-alive\r\n"))
        var m2 = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m2.received(bytes("GET /1 HTTP/1.0\r\n\r\n"), now: t0)
        #expect(answer(&m2, now: t0)?.keepAlive == false)
    }

    @Test func theEndOfInputLetsTheRequestInFlightBeAnsweredThenCloses() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\n\r\n"), now: t0)
        guard case .route = m.next(now: t0) else { return #expect(Bool(false)) }
        #expect(m.receivedEnd() == false, "a request is with the router")
        #expect(m.replied(close: false, now: t0) == .write(ReplyFraming.closing))
        var idle = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        #expect(idle.receivedEnd() == true, "nothing to answer: close at once")
        var partial = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        partial.received(bytes("GET /1 HT"), now: t0)
        #expect(partial.receivedEnd() == false)
        #expect(partial.next(now: t0) == .close(nil), "half a head never completes")
    }

    @Test func shutdownFinishesTheRequestInFlightAndClosesAnIdleConnectionAtOnce() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        m.received(bytes("GET /1 HTTP/1.1\r\n\r\n"), now: t0)
        guard case .route = m.next(now: t0) else { return #expect(Bool(false)) }
        #expect(m.shutdown() == false)
        #expect(m.replied(close: false, now: t0) == .write(ReplyFraming.closing))
        var idle = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        #expect(idle.shutdown() == true)
    }

    @Test func badHeadsAreRejectedWithTheirStatus() {
        func reject(_ text: String) -> Int? {
            var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
            m.received(bytes(text), now: t0)
            guard case .reject(let r) = m.next(now: t0) else { return nil }
            #expect(m.isClosing)
            return r.status
        }
        #expect(reject("BLAH\r\n\r\n") == 400)
        #expect(reject("GET / HTTP/2.0\r\n\r\n") == 505)
        #expect(reject("GET /" + String(repeating: "a", count: 2000) + " HTTP/1.1\r\n\r\n") == 431)
        #expect(reject("POST /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") == 405)
        #expect(reject("GET /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") == 400)
    }

    @Test func repliesToRequestsNobodyWaitsForAreDropped() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        #expect(m.replied(close: false, now: t0) == .drop)
        m.closed()
        #expect(m.received(bytes("GET / HTTP/1.1\r\n\r\n"), now: t0) == .ignored)
        #expect(m.tick(now: at(100), unflushed: 0) == .none)
    }

    // MARK: the accepting thread's one-shot path

    private func oneShot(_ text: String) -> HTTPRequestHead? {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        return Array(text.utf8).withUnsafeBytes { m.oneShot($0) }
    }

    @Test func aWholeHeadAskingToCloseIsAnsweredAtAccept() {
        #expect(oneShot("GET /announce?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?.method == .get)
        #expect(oneShot("GET /scrape HTTP/1.0\r\n\r\n") != nil, "HTTP/1.0 closes unless asked otherwise")
        #expect(oneShot("HEAD /health HTTP/1.1\r\nConnection: close\r\n\r\n")?.method == .head)
    }

    @Test func everythingElseGoesToAnEventLoop() {
        #expect(oneShot("GET /announce?x HTTP/1.1\r\nHost: t\r\n\r\n") == nil, "keep-alive")
        #expect(oneShot("GET /scrape HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == nil, "HTTP/1.0 keep-alive")
        #expect(oneShot("GET /announce?x HTTP/1.1\r\nConnection: close\r\n") == nil, "head not complete")
        #expect(oneShot("GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n") == nil, "more than one request")
        #expect(oneShot("POST /announce HTTP/1.1\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc") == nil, "a body")
        #expect(oneShot("BLAH\r\n\r\n") == nil, "malformed: the handler answers 400")
    }

    @Test func aOneShotRequestThenClosesAndItsUnsentRestHasTheWriteDeadline() {
        var m = ConnectionStateMachine(limits: limits, acceptedAt: t0)
        let shot = Array("GET /a HTTP/1.1\r\nConnection: close\r\n\r\n".utf8).withUnsafeBytes { m.oneShot($0) }
        #expect(shot != nil)
        #expect(m.replied(close: true, now: t0) == .write(ReplyFraming.closing))
        #expect(m.tick(now: at(1), unflushed: 10) == .none)
        #expect(m.tick(now: at(6), unflushed: 10) == .close(.writeTimeout))
    }
}
