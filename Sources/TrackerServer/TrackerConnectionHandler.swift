import NIOCore
import TrackerCore
import TrackerProtocol

/// Per-connection limits.
struct ConnectionLimits: Sendable {
    var maxHeaderBytes: Int
    var idleTimeout: TimeAmount
    var headerTimeout: TimeAmount
    /// Unanswered bytes a client may pipeline before the connection is closed.
    var maxBufferedBytes: Int { maxHeaderBytes * 8 }
}

/// Asks a connection to finish its current reply and close.
struct ShutdownRequest: Sendable {}

/// Serves HTTP/1.1 on one connection: reads request heads, routes them, writes replies in order.
///
/// A lean parser instead of NIOHTTP1's general pipeline: the tracker's routes are a few GETs with
/// no body, and the announce hot path is dominated by HTTP framing costs otherwise. One request
/// is in flight at a time; pipelined requests wait in `buffer` and are answered in order.
final class TrackerConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        /// A request is with the router; its reply decides what happens next.
        case awaiting(keepAlive: Bool, isHead: Bool)
        case closing
    }

    private let router: TrackerRouter
    private let limits: ConnectionLimits
    private var state = State.idle
    private var buffer: ByteBuffer?
    private var remote = PeerAddress.v4(IPv4Address(0))
    private var context: ChannelHandlerContext?
    private var processing = false
    private var inRead = false
    private var needsFlush = false
    private var shuttingDown = false
    private var lastActivity = NIODeadline.now()
    private var headStartedAt: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var scratch: [UInt8] = []

    init(router: TrackerRouter, limits: ConnectionLimits) {
        self.router = router
        self.limits = limits
        scratch.reserveCapacity(256)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if let r = PeerAddress(context.remoteAddress) { remote = r }
        lastActivity = .now()
        arm(context, at: lastActivity + limits.idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        state = .closing
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .closing = state { return }
        var incoming = unwrapInboundIn(data)
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        lastActivity = .now()
        inRead = true
        processBuffered(context)
        inRead = false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownRequest {
            shuttingDown = true
            if case .idle = state, (buffer?.readableBytes ?? 0) == 0 { closeNow(context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeNow(context)
    }

    // MARK: requests

    private func processBuffered(_ context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while case .idle = state, let readable = buffer?.readableBytes, readable > 0 {
            let outcome = buffer!.withUnsafeReadableBytes { HTTPHeadParser.parse($0, maxHeadBytes: limits.maxHeaderBytes) }
            switch outcome {
            case .incomplete:
                if headStartedAt == nil {
                    let started = NIODeadline.now()
                    headStartedAt = started
                    arm(context, at: started + limits.headerTimeout)
                }
                return
            case .failure(let e):
                let status =
                    switch e {
                    case .malformed: 400
                    case .tooLarge: 431
                    case .unsupportedVersion: 505
                    }
                buffer = nil
                reply(context, .text(status, HTTPResponseHead.reason(status).lowercased(), close: true), keepAlive: false, isHead: false)
                return
            case .head(let head, let consumed):
                buffer!.moveReaderIndex(forwardBy: consumed)
                headStartedAt = nil
                if head.contentLength > 0 || head.hasTransferEncoding {
                    // No route takes a body; answer and close rather than read one.
                    let r: HTTPReply =
                        head.method == .other
                        ? .text(405, "method not allowed", close: true, extraHeaders: ["Allow: GET, HEAD"])
                        : .text(400, "request bodies are not accepted", close: true)
                    reply(context, r, keepAlive: false, isHead: false)
                    return
                }
                state = .awaiting(keepAlive: head.keepAlive && !shuttingDown, isHead: head.method == .head)
                let loop = context.eventLoop
                let bound = NIOLoopBound(self, eventLoop: loop)
                router.route(head, remote: remote) { r in
                    if loop.inEventLoop {
                        bound.value.deliver(r)
                    } else {
                        loop.execute { bound.value.deliver(r) }
                    }
                }
            }
        }
        if let b = buffer, b.readableBytes > limits.maxBufferedBytes { closeNow(context) }
    }

    private func deliver(_ r: HTTPReply) {
        guard case .awaiting(let keepAlive, let isHead) = state, let context else { return }
        reply(context, r, keepAlive: keepAlive, isHead: isHead)
        guard case .idle = state else { return }
        if !inRead {
            context.flush()
            processBuffered(context)
        }
        if shuttingDown, case .idle = state, (buffer?.readableBytes ?? 0) == 0 { closeNow(context) }
    }

    /// Writes a reply; leaves the state `.idle` for keep-alive, or closes after the write.
    private func reply(_ context: ChannelHandlerContext, _ r: HTTPReply, keepAlive: Bool, isHead: Bool) {
        let keep = keepAlive && !r.close && !shuttingDown
        scratch.removeAll(keepingCapacity: true)
        HTTPResponseHead.write(
            status: r.status, contentType: r.contentType, contentLength: r.body.count, keepAlive: keep,
            extra: r.extraHeaders, into: &scratch
        )
        var out = context.channel.allocator.buffer(capacity: scratch.count + (isHead ? 0 : r.body.count))
        out.writeBytes(scratch)
        if !isHead { out.writeBytes(r.body) }
        lastActivity = .now()
        if keep {
            state = .idle
            context.write(wrapOutboundOut(out), promise: nil)
            if inRead { needsFlush = true }
        } else {
            state = .closing
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func closeNow(_ context: ChannelHandlerContext) {
        if case .closing = state { return }
        state = .closing
        context.close(promise: nil)
    }

    // MARK: timeouts

    /// One timer per connection, moved only when an earlier deadline is needed; when it fires it
    /// checks what is actually due and re-arms for the rest.
    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        if let current = timerDeadline, current <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) { bound.value.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = nil
        guard let context else { return }
        if case .closing = state { return }
        let now = NIODeadline.now()
        if let started = headStartedAt, now >= started + limits.headerTimeout {
            headStartedAt = nil
            buffer = nil
            reply(context, .text(408, "request timeout", close: true), keepAlive: false, isHead: false)
            return
        }
        if case .idle = state, headStartedAt == nil, now >= lastActivity + limits.idleTimeout {
            closeNow(context)
            return
        }
        var next = max(lastActivity + limits.idleTimeout, now + .milliseconds(100))
        if let started = headStartedAt { next = min(next, started + limits.headerTimeout) }
        arm(context, at: next)
    }
}
