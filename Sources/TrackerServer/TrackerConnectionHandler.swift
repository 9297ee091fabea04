import NIOCore
import TrackerCore
import TrackerProtocol

/// Serves HTTP/1.1 on one connection by doing what its `ConnectionStateMachine` says: reads
/// request heads, routes them, writes replies in order, and closes on the machine's deadlines.
///
/// A lean parser instead of NIOHTTP1's general pipeline: the tracker's routes are a few GETs with
/// no body, and the announce hot path is dominated by HTTP framing costs otherwise. It is a
/// duplex handler only to hold back the channel's `read` while output is backed up: a client
/// that does not read its replies stops being read (NIO's `BackPressureHandler` does the same).
final class TrackerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let router: TrackerRouter
    private let registry: ConnectionRegistry
    private var connections: LoopConnections?
    /// This handler's place in its loop's `LoopConnections`.
    var slot = -1
    private var machine: ConnectionStateMachine
    private var remote = PeerAddress.v4(IPv4Address(0))
    /// The client a PROXY protocol header named: the connection's address does not count.
    private var proxied: PeerAddress?
    /// The place this connection holds in the registry's counts, given back when it goes.
    private let source: SourceKey?
    private var context: ChannelHandlerContext?
    private var processing = false
    private var inRead = false
    private var needsFlush = false
    /// The channel asked to read while the machine did not want to.
    private var readHeld = false
    private var yielded = false
    /// The rest of a reply the accepting thread began, written first.
    private var replying: ByteBuffer?

    private let transport: Transport
    /// A `metrics.listen` connection: `/metrics`, `/health` and `/ready` only.
    private let metricsOnly: Bool

    /// `machine` carries what happened before the handler took over: the accept time (for the
    /// header deadline), bytes read, or a reply being written (`replying`, then close).
    init(
        router: TrackerRouter, registry: ConnectionRegistry, source: SourceKey?, transport: Transport = .http,
        machine: ConnectionStateMachine, replying: ByteBuffer? = nil, proxied: PeerAddress? = nil, metricsOnly: Bool = false
    ) {
        self.proxied = proxied
        self.metricsOnly = metricsOnly
        self.transport = transport
        self.router = router
        self.registry = registry
        self.source = source
        self.machine = machine
        self.replying = replying
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connections = registry.connections(on: context.eventLoop)
        connections?.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connections?.remove(self)
        connections = nil
        registry.release(source)
        machine.closed()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // channel.remoteAddress is cached at accept; context.remoteAddress asks the kernel again.
        if let proxied {
            remote = proxied
        } else if let r = PeerAddress(context.channel.remoteAddress) {
            remote = r
        }
        context.fireChannelActive()
        if let rest = replying {
            replying = nil
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(rest)).whenComplete { _ in channel.close(promise: nil) }
        } else if machine.bufferedBytes > 0 {
            inRead = true
            process(context)
            inRead = false
            channelReadComplete(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch machine.received(unwrapInboundIn(data), now: .now()) {
        case .ignored: return
        case .overflow: return close(context, .buffered)
        case .buffered: break
        }
        inRead = true
        process(context)
        inRead = false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        machine.newTurn()
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if machine.wantsRead {
            context.read()
        } else {
            readHeld = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if machine.writabilityChanged(context.channel.isWritable) { resume(context) }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let client = event as? ProxiedClient {
            (proxied, remote) = (client.address, client.address)
            return
        }
        if case .some(.inputClosed) = event as? ChannelEvent {
            // FIN, or the TLS layer's close_notify: answer what was asked, then close.
            if machine.receivedEnd() { return close(context, nil) }
            process(context)
            flushIfNeeded(context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(context, nil)
    }

    /// Finish the reply in progress, then close; returns the channel's close future.
    func requestShutdown() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        if machine.shutdown() { close(context, nil) }
        return context.channel.closeFuture
    }

    func forceClose() {
        guard let context else { return }
        machine.closed()
        context.close(promise: nil)
    }

    // MARK: requests

    /// Another turn after output drained or after yielding to other connections.
    private func resume(_ context: ChannelHandlerContext) {
        machine.newTurn()
        process(context)
        flushIfNeeded(context)
        releaseHeldRead(context)
    }

    /// Passes on a `read` held back while the machine did not want input, once it does.
    private func releaseHeldRead(_ context: ChannelHandlerContext) {
        guard readHeld, machine.wantsRead else { return }
        readHeld = false
        context.read()
    }

    private func process(_ context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while true {
            switch machine.next(now: .now()) {
            case .wait:
                return releaseHeldRead(context)
            case .yield:
                guard !yielded else { return }
                yielded = true
                needsFlush = true
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.execute {
                    let handler = bound.value
                    handler.yielded = false
                    if let context = handler.context { handler.resume(context) }
                }
                return
            case .close(let reason):
                return close(context, reason)
            case .reject(let rejection):
                let status = rejection.status
                let reply: HTTPReply =
                    switch rejection {
                    case .methodWithBody: .text(405, "method not allowed", close: true, extraHeaders: ["Allow: GET, HEAD"])
                    case .body: .text(400, "request bodies are not accepted", close: true)
                    default: .text(status, HTTPReasonPhrase.of(status).lowercased(), close: true)
                    }
                return writeFinal(context, reply, .closing)
            case .route(let head, _):
                let loop = context.eventLoop
                let bound = NIOLoopBound(self, eventLoop: loop)
                router.route(head, remote: remote, transport: transport, metricsOnly: metricsOnly) { r in
                    if loop.inEventLoop {
                        bound.value.deliver(r)
                    } else {
                        loop.execute { bound.value.deliver(r) }
                    }
                }
            }
        }
    }

    private func deliver(_ r: HTTPReply) {
        guard let context else { return }
        let unflushed = context.channel.isWritable ? 0 : Self.unflushed(context)
        switch machine.replied(close: r.close, unflushed: unflushed, now: .now()) {
        case .drop:
            return
        case .close(let reason):
            return close(context, reason)
        case .write(let framing) where framing.keepAlive:
            context.write(wrapOutboundOut(ByteBuffer(reply: r, framing, allocator: context.channel.allocator)), promise: nil)
            needsFlush = true
            if !inRead, !processing {
                // An answer from the store, after the read that asked for it.
                process(context)
                flushIfNeeded(context)
            }
        case .write(let framing):
            writeFinal(context, r, framing)
        }
    }

    /// Writes the last reply and closes once it is sent (or at the write deadline).
    private func writeFinal(_ context: ChannelHandlerContext, _ r: HTTPReply, _ framing: ReplyFraming) {
        needsFlush = false
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(reply: r, framing, allocator: channel.allocator))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func flushIfNeeded(_ context: ChannelHandlerContext) {
        guard needsFlush, !inRead else { return }
        needsFlush = false
        context.flush()
    }

    private func close(_ context: ChannelHandlerContext, _ reason: CloseReason?) {
        if let reason { router.metrics.closed(reason) }
        machine.closed()
        context.close(promise: nil)
    }

    /// Output queued in the channel and not yet taken by the socket.
    private static func unflushed(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
    }

    // MARK: timeouts

    /// Called about once a second by the loop's `LoopConnections`.
    func checkDeadlines(now: NIODeadline) {
        guard let context else { return }
        let unflushed = machine.isClosing || !context.channel.isWritable ? Self.unflushed(context) : 0
        switch machine.tick(now: now, unflushed: unflushed) {
        case .none:
            return
        case .timeout408:
            router.metrics.closed(.headerTimeout)
            writeFinal(context, .text(408, "request timeout", close: true), .closing)
        case .close(let reason):
            close(context, reason)
        }
    }
}

// Touched only on its channel's event loop, as NIO handlers are: never sent elsewhere.
@available(*, unavailable)
extension TrackerConnectionHandler: Sendable {}
