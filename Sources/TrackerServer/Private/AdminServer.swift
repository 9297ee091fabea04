import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TrackerCore

/// The site API's listener (`admin.listen`, `admin.unix_socket`): HTTP/1.1 through NIOHTTP1,
/// bodies of at most `maxBody` bytes, a deadline per whole request, a cap on connections. Low traffic,
/// off the announce path.
final class AdminServer: Sendable {
    static let maxBody = 65_536
    static let maxConnections = 256
    /// A request must arrive whole this long after its first byte (a client that sends a byte
    /// now and then holds no connection past it).
    let requestTimeout: TimeAmount
    /// A kept-alive connection closes after this long without a read.
    let idleTimeout: TimeAmount

    let api: AdminAPI
    let settings: SquallConfig.AdminSettings
    let group: any EventLoopGroup
    let logger: Logger
    /// Where requests are answered: the server's bulk-work pool, never an event loop or
    /// Swift's shared cooperative threads.
    let bulk: BulkWork
    private let channels = Locked<[any Channel]>([])
    private let open = Locked(0)

    init(
        api: AdminAPI, settings: SquallConfig.AdminSettings, group: any EventLoopGroup, bulk: BulkWork, logger: Logger,
        requestTimeout: TimeAmount = .seconds(30), idleTimeout: TimeAmount = .seconds(30)
    ) {
        (self.api, self.settings, self.group, self.bulk, self.logger) = (api, settings, group, bulk, logger)
        (self.requestTimeout, self.idleTimeout) = (requestTimeout, idleTimeout)
    }

    /// Binds every configured address; returns what each is bound to.
    func start() async throws -> [SocketAddress] {
        var bound: [SocketAddress] = []
        for address in settings.listen {
            let channel = try await bootstrap().bind(host: address.host, port: address.port).get()
            channels.withLock { $0.append(channel) }
            if let a = channel.localAddress { bound.append(a) }
        }
        if let path = settings.unixSocket {
            let channel = try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            channels.withLock { $0.append(channel) }
            if let a = channel.localAddress { bound.append(a) }
        }
        return bound
    }

    func stop() async {
        let all = channels.withLock { c -> [any Channel] in
            defer { c.removeAll() }
            return c
        }
        for c in all { try? await c.close() }
    }

    private func bootstrap() -> ServerBootstrap {
        let (api, logger, bulk, timeout, idle) = (api, logger, bulk, requestTimeout, idleTimeout)
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                let admitted = self.open.withLock { n -> Bool in
                    guard n < Self.maxConnections else { return false }
                    n += 1
                    return true
                }
                guard admitted else { return channel.close() }
                channel.closeFuture.whenComplete { _ in self.open.withLock { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let deadline = AdminRequestDeadline(timeout: timeout)
                    try sync.addHandler(deadline)
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    try sync.addHandler(AdminHandler(api: api, bulk: bulk, logger: logger, deadline: deadline))
                }
            }
    }
}

/// The whole-request deadline, in front of the HTTP decoder: the first bytes of a request
/// start it, the request's end (seen by `AdminHandler`) stops it, and a request still
/// incomplete when it fires closes the connection.
final class AdminRequestDeadline: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer == nil {
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
        context.fireChannelRead(data)
    }

    /// The request in hand is whole: the next one's first bytes start the clock again.
    func requestEnded() {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        requestEnded()
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension AdminRequestDeadline: Sendable {}

/// One admin connection: gathers a request (head and a bounded body), asks the API, writes the
/// reply. One request at a time; keep-alive as the client asks.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let api: AdminAPI
    let bulk: BulkWork
    let logger: Logger
    let deadline: AdminRequestDeadline?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(api: AdminAPI, bulk: BulkWork, logger: Logger, deadline: AdminRequestDeadline? = nil) {
        (self.api, self.bulk, self.logger, self.deadline) = (api, bulk, logger, deadline)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            (head, body, tooLarge) = (h, [], false)
        case .body(var chunk):
            if body.count + chunk.readableBytes > AdminServer.maxBody {
                tooLarge = true
            } else if !tooLarge {
                body += chunk.readBytes(length: chunk.readableBytes) ?? []
            }
        case .end:
            deadline?.requestEnded()
            guard let head else { return }
            self.head = nil
            if tooLarge { return write(context, head, AdminAPI.Reply.text(413, "Request body too large."), keepAlive: false) }
            let method: AdminAPI.Method =
                switch head.method {
                case .GET: .get
                case .PUT: .put
                case .DELETE: .delete
                case .POST: .post
                default: .other
                }
            let (api, body) = (api, body)
            let path = String(head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            let contentType = head.headers.first(name: "content-type")
            let promise = context.eventLoop.makePromise(of: AdminAPI.Reply.self)
            let submitted = bulk.submit {
                promise.succeed(await api.handle(method: method, path: path, contentType: contentType, body: body))
            }
            if !submitted { promise.succeed(.text(503, "Busy, retry later.")) }
            let keepAlive = head.isKeepAlive
            promise.futureResult.assumeIsolated().whenSuccess { reply in
                self.write(context, head, reply, keepAlive: keepAlive)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func write(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ reply: AdminAPI.Reply, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: String(reply.body.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: reply.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD, !reply.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: reply.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}

@available(*, unavailable)
extension AdminHandler: Sendable {}
