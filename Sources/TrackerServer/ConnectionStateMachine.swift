import NIOCore
import TrackerProtocol

/// Per-connection limits and deadlines.
struct ConnectionLimits: Sendable {
    var maxHeaderBytes: Int
    /// A keep-alive connection with no request in progress is closed after this.
    var idleTimeout: TimeAmount
    /// From accept (and from the first byte of each later request) to the end of the head.
    var headerTimeout: TimeAmount
    /// Output waiting to be sent must shrink within this, or the connection is closed.
    var writeTimeout: TimeAmount
    /// Output a connection may have waiting for the client to read before it is closed.
    var maxUnflushedBytes: Int
    /// Pipelined requests answered in one turn of the event loop before others get theirs.
    var maxPipelinedPerTurn: Int
    /// Unanswered bytes a client may pipeline before the connection is closed.
    var maxBufferedBytes: Int { maxHeaderBytes * 8 }
    /// Keep `User-Agent` and note browser headers (private mode's rules read them).
    var clientHeaders = false
    /// Keep `X-Forwarded-For` and `X-Real-IP` (some proxy is trusted: `trusted_proxies`).
    var forwardingHeaders = false

    init(
        maxHeaderBytes: Int, idleTimeout: TimeAmount, headerTimeout: TimeAmount, writeTimeout: TimeAmount = .seconds(10),
        maxUnflushedBytes: Int = 256 * 1024, maxPipelinedPerTurn: Int = 16, clientHeaders: Bool = false,
        forwardingHeaders: Bool = false
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.writeTimeout = writeTimeout
        self.maxUnflushedBytes = maxUnflushedBytes
        self.maxPipelinedPerTurn = maxPipelinedPerTurn
        self.clientHeaders = clientHeaders
        self.forwardingHeaders = forwardingHeaders
    }
}

/// How a reply is framed: whether the connection stays open after it, and for which request.
struct ReplyFraming: Equatable, Sendable {
    var keepAlive: Bool
    var isHead: Bool
    /// HTTP/1.0 closes by default, so a kept connection must say `Connection: keep-alive`.
    var http10: Bool

    /// A reply Squall sends on its own (a refusal, 408) before closing.
    static let closing = ReplyFraming(keepAlive: false, isHead: false, http10: false)
}

/// Why a connection was closed by Squall rather than by its client.
enum CloseReason: String, CaseIterable, Sendable {
    /// No complete request head within `http.header_timeout` of accept or of its first byte.
    case headerTimeout = "header_timeout"
    /// Idle between keep-alive requests for `http.idle_timeout`.
    case idleTimeout = "idle_timeout"
    /// Output not read by the client for `http.write_timeout`.
    case writeTimeout = "write_timeout"
    /// Output waiting for the client passed `http.max_unflushed_bytes`.
    case unflushed
    /// Unanswered pipelined bytes passed the buffer bound.
    case buffered
    /// A `proxy_protocol` listener's connection did not start with a valid PROXY header.
    case proxyHeader = "proxy_header"
}

/// Everything one HTTP connection decides: when to read, which request to route next, how a
/// reply is framed, and which deadline applies, in every state. A value with no channel and no
/// clock of its own: callers pass the time, so tests move it, and both the NIO handler
/// (`TrackerConnectionHandler`) and the one-shot path of `HTTPAcceptor` drive the same machine.
///
/// One request is with the router at a time; pipelined requests wait as bytes in `buffer` and
/// are answered in order. While the channel is not writable nothing more is routed and nothing
/// more is read, so a client that does not read its replies holds at most the channel's write
/// high-water mark plus one reply, until the write deadline closes it.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// Waiting for a request head, complete by `deadline` (408 or a silent close after it).
        case readingHead(deadline: NIODeadline)
        /// Between keep-alive requests with nothing buffered: closed silently at `deadline`.
        case idle(deadline: NIODeadline)
        /// A request is with the router; its reply decides what comes next.
        case routing(ReplyFraming)
        /// The last reply is written; the connection closes once it is sent.
        case closing
        case closed
    }

    /// What to do with the next buffered bytes.
    enum Next: Equatable {
        /// Nothing to route now (no complete head, a request already routed, output backed up).
        case wait
        /// Route this request; its reply comes back through `replied`.
        case route(HTTPRequestHead, ReplyFraming)
        /// Answer at once with this refusal, then close.
        case reject(Rejection)
        /// This turn answered its share of pipelined requests: flush, then come back next turn.
        case yield
        /// Close without replying.
        case close(CloseReason?)
    }

    /// A request refused before routing, each with its status.
    enum Rejection: Equatable {
        case malformed, tooLarge, unsupportedVersion, body, methodWithBody
        init(_ e: HTTPHeadError) {
            switch e {
            case .malformed: self = .malformed
            case .tooLarge: self = .tooLarge
            case .unsupportedVersion: self = .unsupportedVersion
            }
        }
        var status: Int {
            switch self {
            case .malformed, .body: 400
            case .tooLarge: 431
            case .unsupportedVersion: 505
            case .methodWithBody: 405
            }
        }
    }

    /// What the deadline sweep asks for.
    enum TickAction: Equatable {
        case none
        /// The head did not arrive in time and part of it did: answer 408 and close.
        case timeout408
        case close(CloseReason)
    }

    let limits: ConnectionLimits
    private(set) var state: State
    /// Bytes received and not yet consumed by a routed request.
    private(set) var buffer: ByteBuffer?
    /// Whether the channel accepts more output without queueing past its high-water mark.
    private(set) var writable = true
    private(set) var shuttingDown = false
    /// The client will send nothing more (FIN, or a TLS close_notify): answer, then close.
    private(set) var inputClosed = false
    private var answeredThisTurn = 0
    /// Unsent output at the last sweep, and since when it has not shrunk.
    private var lastUnflushed = 0
    private var stalledSince: NIODeadline?

    /// A connection accepted at `now`: its first head is due `headerTimeout` later.
    init(limits: ConnectionLimits, acceptedAt now: NIODeadline) {
        self.limits = limits
        self.state = .readingHead(deadline: now + limits.headerTimeout)
    }

    var bufferedBytes: Int { buffer?.readableBytes ?? 0 }
    var isClosing: Bool {
        switch state {
        case .closing, .closed: true
        default: false
        }
    }

    /// Whether to ask the channel for more input: not while output is backed up, and not once
    /// the connection is closing.
    var wantsRead: Bool { writable && !isClosing && !inputClosed && bufferedBytes < limits.maxHeaderBytes }

    // MARK: input

    /// What became of bytes from the client.
    enum Receipt: Equatable {
        case buffered
        /// The connection is closing: they are dropped.
        case ignored
        /// More than `maxBufferedBytes` wait unanswered: close the connection.
        case overflow
    }

    /// Bytes from the client.
    @discardableResult
    mutating func received(_ bytes: ByteBuffer, now: NIODeadline) -> Receipt {
        if isClosing { return .ignored }
        var incoming = bytes
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        if case .idle = state, bytes.readableBytes > 0 {
            // The next request has begun: it has `headerTimeout` to finish its head.
            state = .readingHead(deadline: now + limits.headerTimeout)
        }
        // Bytes that cannot be answered now (a request is with the router, or output is backed
        // up) are bounded here; the rest once the machine has answered what it could (`next`).
        if case .routing = state, bufferedBytes > limits.maxBufferedBytes { return overflow() }
        if !writable, bufferedBytes > limits.maxBufferedBytes { return overflow() }
        return .buffered
    }

    private mutating func overflow() -> Receipt {
        dropInputAndClose()
        return .overflow
    }

    /// Whatever the client sent and is not answered is dropped; the connection goes to closing.
    private mutating func dropInputAndClose() {
        buffer = nil
        state = .closing
    }

    /// The next thing to do with what is buffered.
    mutating func next(now: NIODeadline) -> Next {
        switch state {
        case .readingHead, .idle: break
        case .routing, .closing, .closed: return .wait
        }
        guard bufferedBytes > 0 else {
            if inputClosed || shuttingDown { return closeQuietly() }
            return .wait
        }
        guard writable, answeredThisTurn < limits.maxPipelinedPerTurn else {
            if bufferedBytes > limits.maxBufferedBytes { return closeQuietly(.buffered) }
            return writable ? .yield : .wait
        }
        let outcome = buffer!.withUnsafeReadableBytes {
            HTTPHeadParser.parse(
                $0, maxHeadBytes: limits.maxHeaderBytes, clientHeaders: limits.clientHeaders,
                forwardingHeaders: limits.forwardingHeaders)
        }
        switch outcome {
        case .incomplete:
            if bufferedBytes > limits.maxBufferedBytes { return closeQuietly(.buffered) }
            if inputClosed { return closeQuietly() }
            return .wait
        case .failure(let e):
            dropInputAndClose()
            return .reject(Rejection(e))
        case .head(let head, let consumed):
            buffer!.moveReaderIndex(forwardBy: consumed)
            if head.contentLength > 0 || head.hasTransferEncoding {
                // No route takes a body; answer and close rather than read one.
                dropInputAndClose()
                return .reject(head.method == .other ? .methodWithBody : .body)
            }
            answeredThisTurn += 1
            let framing = ReplyFraming(
                keepAlive: head.keepAlive && !shuttingDown && !inputClosed, isHead: head.method == .head, http10: head.minorVersion == 0)
            state = .routing(framing)
            return .route(head, framing)
        }
    }

    /// The request in `bytes` (the first read of a new connection) when the accepting thread
    /// may answer it itself: exactly one complete head, no body, from a client that asked to
    /// close. Then the machine is routing it (its reply comes back through `replied`); otherwise
    /// nil and the machine is unchanged (give it the bytes with `received` and hand it to an
    /// event loop).
    mutating func oneShot(_ bytes: UnsafeRawBufferPointer) -> HTTPRequestHead? {
        guard case .readingHead = state, bufferedBytes == 0,
            case .head(let head, let consumed) = HTTPHeadParser.parse(
                bytes, maxHeadBytes: limits.maxHeaderBytes, clientHeaders: limits.clientHeaders,
                forwardingHeaders: limits.forwardingHeaders),
            consumed == bytes.count, !head.keepAlive, head.contentLength == 0, !head.hasTransferEncoding
        else { return nil }
        let framing = ReplyFraming(keepAlive: false, isHead: head.method == .head, http10: head.minorVersion == 0)
        answeredThisTurn += 1
        state = .routing(framing)
        return head
    }

    /// What to do with a reply from the router.
    enum ReplyDecision: Equatable {
        /// Write it framed so; `keepAlive` false means close once it is sent.
        case write(ReplyFraming)
        /// Nothing was waiting for it (the connection is closing): drop it.
        case drop
        /// More than `maxUnflushedBytes` already wait for the client: close instead.
        case close(CloseReason)
    }

    /// The router answered the request in flight. `unflushed` is the output still queued for
    /// the client before this reply (callers may pass 0 while the channel is writable: then it
    /// is below the channel's high-water mark, far under the bound).
    mutating func replied(close: Bool, unflushed: Int = 0, now: NIODeadline) -> ReplyDecision {
        guard case .routing(var framing) = state else { return .drop }
        if unflushed > limits.maxUnflushedBytes {
            dropInputAndClose()
            return .close(.unflushed)
        }
        framing.keepAlive = framing.keepAlive && !close && !shuttingDown && !inputClosed
        if framing.keepAlive {
            state = bufferedBytes > 0 ? .readingHead(deadline: now + limits.headerTimeout) : .idle(deadline: now + limits.idleTimeout)
        } else {
            state = .closing
        }
        return .write(framing)
    }

    /// A new turn of the event loop (a read burst ended, or a yield came back).
    mutating func newTurn() { answeredThisTurn = 0 }

    // MARK: events

    /// The channel's writability changed. Returns true when output drained and work may go on.
    mutating func writabilityChanged(_ isWritable: Bool) -> Bool {
        writable = isWritable
        return isWritable && !isClosing
    }

    /// The client sent its last byte. Returns true when nothing is left to answer.
    mutating func receivedEnd() -> Bool {
        inputClosed = true
        return noWorkLeft
    }

    /// Asked to finish and close (graceful shutdown). Returns true when it may close at once.
    mutating func shutdown() -> Bool {
        shuttingDown = true
        return noWorkLeft
    }

    private var noWorkLeft: Bool {
        switch state {
        case .readingHead, .idle: bufferedBytes == 0
        case .routing, .closing, .closed: false
        }
    }

    /// The connection is closed (by anyone).
    mutating func closed() {
        state = .closed
        buffer = nil
    }

    private mutating func closeQuietly(_ reason: CloseReason? = nil) -> Next {
        dropInputAndClose()
        return .close(reason)
    }

    // MARK: deadlines

    /// The deadline sweep, about once a second. `unflushed` is the output queued for the client
    /// (only needed while the channel is not writable or the connection is closing; 0 otherwise).
    mutating func tick(now: NIODeadline, unflushed: Int) -> TickAction {
        if case .closed = state { return .none }
        if unflushed > 0 {
            if stalledSince == nil || unflushed < lastUnflushed {
                stalledSince = now
            } else if let since = stalledSince, now >= since + limits.writeTimeout {
                return expire(.writeTimeout)
            }
        } else {
            stalledSince = nil
        }
        lastUnflushed = unflushed
        switch state {
        case .readingHead(let deadline) where now >= deadline:
            if bufferedBytes > 0 {
                dropInputAndClose()
                return .timeout408
            }
            return expire(.headerTimeout)
        case .idle(let deadline) where now >= deadline:
            return expire(.idleTimeout)
        default:
            return .none
        }
    }

    private mutating func expire(_ reason: CloseReason) -> TickAction {
        dropInputAndClose()
        return .close(reason)
    }
}
