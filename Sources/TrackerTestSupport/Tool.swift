public import Foundation

/// Runs a command to its end; its exit status and its standard output and error together.
public func runTool(_ path: String, _ args: [String], in directory: URL? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let directory { p.currentDirectoryURL = directory }
    let out = Pipe()
    (p.standardOutput, p.standardError) = (out, out)
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}
