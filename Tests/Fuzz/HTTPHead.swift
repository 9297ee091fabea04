import TrackerProtocol

/// The HTTP head parser: no crash on any input, and every proper prefix of a head it accepts is
/// incomplete, never an error (a client's head may arrive split anywhere).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHead(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard case .head(_, let consumed) = HTTPHeadParser.parse(bytes, maxHeadBytes: 8192) else { return 0 }
    for cut in 0..<consumed {
        let outcome = HTTPHeadParser.parse(UnsafeRawBufferPointer(rebasing: bytes[..<cut]), maxHeadBytes: 8192)
        guard outcome == .incomplete else { fatalError("a prefix of \(cut) of a \(consumed)-byte head was \(outcome)") }
    }
    return 0
}
