// squall-bench: Squall's benchmark tool; `Benchmarks/run` (make bench) drives it.
//   pool     --torrents N [--offset I]                     hex info_hashes, one per line
//   preload  URL [pool options] [--users N]               every pool peer announces once
//   unit3d-sql [--users N] [pool options]                the registry as rows of UNIT3D's schema (SQL)
//   verify   URL [--count N] [--stateless 1] [--users N] [pool options]  decode N replies, count invalid ones
//   registry --users N [pool options]                     a private tracker's state file for the pool
// --users N: private mode, each peer at its user's passkey URL (see Pool.user).
//   memory   [--peers N] [--layout zipf|flat] [--users N]  memory store bytes per peer (with
//            --users, each peer belongs to one of N private-mode users)
//   pipeline [--count N] [pool options]                   Squall's own work per announce, no network
//   report   DIR                                          runs.tsv -> report.md, plot.dat
// Pool options: --torrents 1000 --offset 0 --swarm-max 1000 --swarm-min 5
#if canImport(Glibc)
    import Glibc
#endif

var args = Array(CommandLine.arguments.dropFirst())
let mode = args.isEmpty ? "help" : args.removeFirst()
var positional: [String] = []
var options: [String: String] = [:]
while !args.isEmpty {
    let a = args.removeFirst()
    if a.hasPrefix("--"), !args.isEmpty { options[String(a.dropFirst(2))] = args.removeFirst() } else { positional.append(a) }
}
@MainActor func int(_ key: String, _ fallback: Int) -> Int { options[key].flatMap { Int($0) } ?? fallback }
@MainActor func pool() -> Pool {
    Pool(torrents: int("torrents", 1000), offset: int("offset", 0), swarmMax: int("swarm-max", 1000), swarmMin: int("swarm-min", 5))
}

do {
    switch mode {
    case "pool":
        for h in pool().hashes { print(h.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()) }
    case "preload":
        try preload(url: positional.first ?? "", pool: pool(), users: int("users", 0))
    case "verify":
        try verify(
            url: positional.first ?? "", pool: pool(), count: int("count", 2000), expectPeers: options["stateless"] == nil,
            users: int("users", 0))
    case "registry":
        registry(pool: pool(), users: int("users", 100_000))
    case "unit3d-sql":
        unit3dSQL(pool: pool(), users: int("users", 100_000))
    case "pipeline":
        try pipeline(pool: pool(), announces: int("count", 1_000_000))
    case "memory":
        try await memory(peers: int("peers", 1_000_000), layout: options["layout"] ?? "zipf", users: int("users", 0))
    case "report":
        try report(dir: positional.first ?? ".")
    default:
        print("usage: squall-bench pool|preload|verify|registry|memory|report ... (see Benchmarks/squall-bench/main.swift)")
        exit(mode == "help" ? 0 : 2)
    }
} catch {
    let message = Array("squall-bench: \(error)\n".utf8)
    _ = write(2, message, message.count)
    exit(1)
}
