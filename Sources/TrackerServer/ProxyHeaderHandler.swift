import NIOCore
import TrackerCore
import TrackerProtocol

/// The client a PROXY protocol header named, passed up the pipeline before the bytes after it.
struct ProxiedClient {
    var address: PeerAddress
}

/// Reads the PROXY protocol header (v1 or v2) that starts every connection of a
/// `proxy_protocol` listener, then steps aside: the client it names goes up as a
/// `ProxiedClient` event, the bytes after it as ordinary reads, and the handler removes itself.
/// It comes before TLS (a balancer sends the header before the handshake). No valid header
/// within `timeout` of accept, or bytes that cannot start one, close the connection
/// (`squall_connections_closed_total{reason="proxy_header"}`). What it buffers is bounded by
/// the header's own limits plus one read.
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var buffer: ByteBuffer?
    private let timeout: TimeAmount
    private let metrics: TrackerMetrics
    private var deadline: Scheduled<Void>?
    private var done = false

    /// `initial`: bytes already read from the connection (the accepting thread's first read).
    init(initial: ByteBuffer? = nil, timeout: TimeAmount, metrics: TrackerMetrics) {
        (buffer, self.timeout, self.metrics) = (initial, timeout, metrics)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let (channel, metrics) = (context.channel, metrics)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            metrics.closed(.proxyHeader)
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if buffer?.readableBytes ?? 0 > 0 { consume(context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var incoming = unwrapInboundIn(data)
        if buffer == nil {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        consume(context)
    }

    private func consume(_ context: ChannelHandlerContext) {
        guard var bytes = buffer else { return }
        switch bytes.withUnsafeReadableBytes({ ProxyHeader.parse($0) }) {
        case .incomplete:
            return
        case .invalid:
            done = true
            buffer = nil
            metrics.closed(.proxyHeader)
            context.close(promise: nil)
        case .header(let client, let consumed):
            done = true
            buffer = nil
            deadline?.cancel()
            bytes.moveReaderIndex(forwardBy: consumed)
            if let client { context.fireUserInboundEventTriggered(ProxiedClient(address: client.address)) }
            if bytes.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(bytes))
                context.fireChannelReadComplete()
            }
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
    }
}

// Touched only on its channel's event loop, as NIO handlers are: never sent elsewhere.
@available(*, unavailable)
extension ProxyHeaderHandler: Sendable {}
