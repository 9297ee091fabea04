import TrackerProtocol

/// Bencode decoding: no crash or runaway recursion on any input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBencode(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? BencodeValue.decode(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
