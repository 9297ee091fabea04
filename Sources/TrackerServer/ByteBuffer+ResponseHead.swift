import NIOCore
import TrackerProtocol

extension ByteBuffer {
    /// `reply` as a whole HTTP/1.1 response framed as `framing` says, in a buffer of its own.
    init(reply: HTTPReply, _ framing: ReplyFraming, allocator: ByteBufferAllocator) {
        self = allocator.buffer(capacity: 160 + (framing.isHead ? 0 : reply.body.count))
        writeReply(reply, framing)
    }

    /// Writes `reply` as a whole HTTP/1.1 response framed as `framing` says; a reply to HEAD
    /// carries no body.
    mutating func writeReply(_ reply: HTTPReply, _ framing: ReplyFraming) {
        writeResponseHead(
            status: reply.status, contentType: reply.contentType, contentLength: reply.body.count, keepAlive: framing.keepAlive,
            extra: reply.extraHeaders, http10: framing.http10)
        if !framing.isHead { writeBytes(reply.body) }
    }

    /// Writes an HTTP/1.1 status line and headers, ending with the empty line, from static
    /// bytes where it can: this runs once per announce. An HTTP/1.0 client closes unless told
    /// otherwise, so a connection kept open for one says `Connection: keep-alive`.
    mutating func writeResponseHead(
        status: Int, contentType: StaticString, contentLength: Int, keepAlive: Bool, extra: [String], http10: Bool = false
    ) {
        switch status {
        case 200: writeStaticString("HTTP/1.1 200 OK\r\nContent-Type: ")
        default:
            writeString("HTTP/1.1 \(status) \(HTTPReasonPhrase.of(status))\r\nContent-Type: ")
        }
        writeStaticString(contentType)
        writeStaticString("\r\nContent-Length: ")
        writeDecimal(contentLength)
        writeStaticString("\r\n")
        for line in extra {
            writeString(line)
            writeStaticString("\r\n")
        }
        if !keepAlive {
            writeStaticString("Connection: close\r\n")
        } else if http10 {
            writeStaticString("Connection: keep-alive\r\n")
        }
        writeStaticString("\r\n")
    }

    private mutating func writeDecimal(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buf in
            var v = max(0, value)
            var i = buf.count
            repeat {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            writeBytes(UnsafeRawBufferPointer(rebasing: buf[i...]))
        }
    }
}
