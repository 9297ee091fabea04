/// hiredis's reply reader as Squall drives it (`RedisReader`, compiled here from its source):
/// bytes fed in pieces of any size, replies copied into `RedisValue`s, no crash and no
/// allocation beyond what the bytes sent could justify, whatever a broken or hostile server
/// sends. The first byte sets the piece size.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedisReply(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let piece = Int(data[0]) + 1
    let reader = RedisReader()
    var offset = 1
    do {
        while offset < size {
            let n = min(piece, size - offset)
            try reader.feed(UnsafeRawBufferPointer(start: data + offset, count: n))
            offset += n
            while let value = try reader.next() { _ = value }
        }
    } catch {
        // A protocol error: Squall drops the connection.
    }
    return 0
}
