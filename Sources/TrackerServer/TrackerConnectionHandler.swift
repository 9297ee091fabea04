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
    private let registry: ConnectionRegistry
    private var connections: LoopConnections?
    /// This handler's place in its loop's `LoopConnections`.
    var slot = -1
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

    private let transport: Transport

    /// How a connection reaches the handler: accepted by NIO, or handed over by `HTTPAcceptor`
    /// after it read the first bytes or wrote part of a reply.
    enum Start: Sendable {
        case fresh
        /// Bytes already read from the connection, to be served before anything it reads.
        case received(ByteBuffer)
        /// The rest of a reply to a client that asked to close; written, then the connection closes.
        case replying(ByteBuffer)
    }
    private var start: Start

    init(router: TrackerRouter, limits: ConnectionLimits, registry: ConnectionRegistry, transport: Transport = .http, start: Start = .fresh)
    {
        self.transport = transport
        self.start = start
        self.router = router
        self.limits = limits
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connections = registry.connections(on: context.eventLoop)
        connections?.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connections?.remove(self)
        connections = nil
        registry.open.subtract(1, ordering: .relaxed)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // channel.remoteAddress is cached at accept; context.remoteAddress asks the kernel again.
        if let r = PeerAddress(context.channel.remoteAddress) { remote = r }
        lastActivity = .now()
        context.fireChannelActive()
        switch start {
        case .fresh:
            break
        case .received(let bytes):
            start = .fresh
            receive(context, bytes)
            channelReadComplete(context: context)
        case .replying(let rest):
            start = .fresh
            state = .closing
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(rest)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closing
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(context, unwrapInboundIn(data))
    }

    private func receive(_ context: ChannelHandlerContext, _ bytes: ByteBuffer) {
        if case .closing = state { return }
        var incoming = bytes
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

    /// Finish the reply in progress, then close; returns the channel's close future.
    func requestShutdown() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        shuttingDown = true
        if case .idle = state, (buffer?.readableBytes ?? 0) == 0 { closeNow(context) }
        return context.channel.closeFuture
    }

    func forceClose() {
        guard let context else { return }
        state = .closing
        context.close(promise: nil)
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
                if headStartedAt == nil { headStartedAt = .now() }
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
                router.route(head, remote: remote, transport: transport) { r in
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
        var out = context.channel.allocator.buffer(capacity: 128 + (isHead ? 0 : r.body.count))
        out.writeReply(r, keepAlive: keep, isHead: isHead)
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

    /// Called about once a second by the loop's `LoopConnections`.
    func checkDeadlines(now: NIODeadline) {
        guard let context else { return }
        if case .closing = state { return }
        if let started = headStartedAt, now >= started + limits.headerTimeout {
            headStartedAt = nil
            buffer = nil
            reply(context, .text(408, "request timeout", close: true), keepAlive: false, isHead: false)
        } else if case .idle = state, headStartedAt == nil, now >= lastActivity + limits.idleTimeout {
            closeNow(context)
        }
    }
}
