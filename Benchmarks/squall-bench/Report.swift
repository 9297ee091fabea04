#if canImport(Glibc)
    import Glibc
#endif

/// One measured run, as `Benchmarks/run` appends it to runs.tsv:
/// rep, target, mode, announces, server CPU seconds, wall seconds, p50 us, p99 us, failures, socket errors, loadgen CPU seconds.
struct Run {
    var rep: Int, target: String, mode: String
    var announces: Double, cpu: Double, wall: Double, p50: Double, p99: Double, failures: Int, errors: Int, loadgenCPU: Double
    var usPerAnnounce: Double { announces > 0 ? cpu * 1e6 / announces : .infinity }
    var rps: Double { wall > 0 ? announces / wall : 0 }
}

/// The fixed-body nginx a target is compared with: same transport, same address family.
func referenceFor(_ target: String) -> String {
    if target.contains("https") || target.contains("tls") { return target.hasSuffix("6") ? "nginx-fixed-https6" : "nginx-fixed-https" }
    return target.hasSuffix("6") ? "nginx-fixed-http6" : "nginx-fixed-http"
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func fmt(_ v: Double, _ digits: Int = 1) -> String {
    guard v.isFinite else { return "-" }
    var m = 1.0
    for _ in 0..<digits { m *= 10 }
    let r = (v * m).rounded() / m
    return digits == 0 ? String(Int(r)) : String(r)
}

func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// The runs of a runs.tsv, nil when there is none.
func readRuns(_ path: String) -> [Run]? {
    guard let text = readFile(path) else { return nil }
    return text.split(separator: "\n").compactMap { line in
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 11, let rep = Int(f[0]) else { return nil }
        return Run(
            rep: rep, target: f[1], mode: f[2], announces: Double(f[3]) ?? 0, cpu: Double(f[4]) ?? 0, wall: Double(f[5]) ?? 0,
            p50: Double(f[6]) ?? 0, p99: Double(f[7]) ?? 0, failures: Int(f[8]) ?? 0, errors: Int(f[9]) ?? 0, loadgenCPU: Double(f[10]) ?? 0
        )
    }
}

/// Turns runs.tsv (and memory.md, paired/, when present) into report.md and plot.dat.
func report(dir: String) throws {
    guard let runs = readRuns(dir + "/runs.tsv") else { throw BenchClient.Failure(description: "no \(dir)/runs.tsv") }
    // A full run's private rows measured again side by side with open mode (Benchmarks/run's
    // measure_paired): their targets are judged on these.
    let paired = readRuns(dir + "/paired/runs.tsv") ?? []
    var keys: [String] = []
    for r in runs where !keys.contains("\(r.target)|\(r.mode)") { keys.append("\(r.target)|\(r.mode)") }
    /// Median over repetitions of (this target's cost / the reference's cost in the same repetition).
    func ratio(_ target: String, _ mode: String, to ref: String, _ refMode: String, in runs: [Run] = runs) -> Double {
        median(
            runs.filter { $0.target == target && $0.mode == mode }.compactMap { r in
                runs.first { $0.rep == r.rep && $0.target == ref && $0.mode == refMode }.map { r.usPerAnnounce / $0.usPerAnnounce }
            })
    }

    var md = "# Squall benchmark\n\n"
    md += (readFile(dir + "/env.txt") ?? "") + "\n"
    md += "## Server CPU per announce (median of \(Set(runs.map(\.rep)).count) repetitions)\n\n"
    md += "Server CPU = user + system time of every server process (Squall; nginx master and worker; opentracker) "
    md += "during the run, divided by the announces answered. Ratios are taken within each repetition, then the median.\n\n"
    md +=
        "| system | mode | CPU us/announce | vs nginx fixed (same mode and family) | vs opentracker (close) | announces/s | p50 ms | p99 ms | invalid replies | socket errors | loadgen CPU busy |\n"
    md += "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    var plot = ""
    for key in keys {
        let parts = key.split(separator: "|").map(String.init)
        let (t, m) = (parts[0], parts[1])
        let rs = runs.filter { $0.target == t && $0.mode == m }
        let us = median(rs.map(\.usPerAnnounce))
        let fixedRef = referenceFor(t)
        md +=
            "| \(t) | \(m) | \(fmt(us)) | \(fmt(ratio(t, m, to: fixedRef, m), 2)) | \(fmt(ratio(t, m, to: "opentracker-http", "close"), 2)) "
        md += "| \(fmt(median(rs.map(\.rps)), 0)) | \(fmt(median(rs.map(\.p50)) / 1000, 2)) | \(fmt(median(rs.map(\.p99)) / 1000, 2)) "
        md +=
            "| \(rs.map(\.failures).reduce(0, +)) | \(rs.map(\.errors).reduce(0, +)) | \(fmt(median(rs.map { $0.wall > 0 ? $0.loadgenCPU / $0.wall * 100 : 0 }), 0)) % |\n"
        plot += "\"\(t) \(m == "keep-alive" ? "ka" : m)\" \(fmt(us, 2))\n"
    }
    md += "\nopentracker closes every connection after its reply, so it has only a `close` row over plain HTTP; "
    md += "its socket errors count wrk's writes into those closed connections, not failed announces.\n"
    md += "Where loadgen CPU busy is near 100 %, wrk's one core was the limit: compare CPU per announce, not announces/s.\n"
    md += "`resume` rows: openssl s_time opens one connection at a time and resumes its TLS 1.3 session each time "
    md += "(no latency figures); their reference is nginx TLS in front of opentracker with tickets and a session cache on.\n\n"

    md += "## Targets (issues 3 and 11)\n\n"
    md += "| measure | Squall | reference | ratio | target | met |\n| --- | ---: | ---: | ---: | --- | --- |\n"
    func row(
        _ name: String, _ t: String, _ m: String, _ ref: String, _ refMode: String, limit: Double, label: String, in runs: [Run] = runs
    ) {
        let mine = median(runs.filter { $0.target == t && $0.mode == m }.map(\.usPerAnnounce))
        let theirs = median(runs.filter { $0.target == ref && $0.mode == refMode }.map(\.usPerAnnounce))
        let r = ratio(t, m, to: ref, refMode, in: runs)
        guard r.isFinite else { md += "| \(name) | - | - | - | \(label) | not measured |\n"; return }
        md +=
            "| \(name) | \(fmt(mine)) us | \(fmt(theirs)) us (\(ref) \(refMode)) | \(fmt(r, 2)) | \(label) | \(limit.isInfinite ? "-" : r <= limit ? "yes" : "no") |\n"
    }
    row(
        "HTTP keep-alive, CPU per announce", "squall-http", "keep-alive", "nginx-fixed-http", "keep-alive", limit: 1.5,
        label: "<= 1.5x nginx fixed body")
    row("HTTP new connection per announce", "squall-http", "close", "opentracker-http", "close", limit: 1.0, label: "<= opentracker")
    row(
        "HTTP keep-alive over IPv6", "squall-http6", "keep-alive", "nginx-fixed-http6", "keep-alive", limit: 1.5,
        label: "<= 1.5x nginx fixed body (IPv6)")
    row(
        "cost vs swarm size (swarm 1000 / swarm 10)", "squall-swarm1000", "keep-alive", "squall-swarm10", "keep-alive", limit: 1.3,
        label: "<= 1.3x")
    row(
        "HTTPS keep-alive", "squall-https", "keep-alive", "nginx-fixed-https", "keep-alive", limit: 1.5,
        label: "<= 1.5x nginx TLS fixed body")
    row(
        "HTTPS keep-alive over IPv6", "squall-https6", "keep-alive", "nginx-fixed-https6", "keep-alive", limit: 1.5,
        label: "<= 1.5x nginx TLS fixed body (IPv6)")
    row(
        "HTTPS full handshake per announce", "squall-https", "close", "nginx-fixed-https", "close", limit: 1.0,
        label: "<= nginx TLS fixed body")
    row(
        "HTTPS keep-alive vs nginx TLS in front of opentracker", "squall-https", "keep-alive", "opentracker-via-nginx-tls", "keep-alive",
        limit: 1.0, label: "<= nginx TLS -> opentracker")
    row(
        "HTTPS full handshake vs nginx TLS in front of opentracker", "squall-https", "close", "opentracker-via-nginx-tls", "close",
        limit: 1.0, label: "<= nginx TLS -> opentracker")
    row(
        "HTTPS new connection, session resumed", "squall-https", "resume", "opentracker-via-nginx-tls-resume", "resume", limit: 1.0,
        label: "<= nginx TLS (resumption on) -> opentracker")
    row(
        "Redis store, HTTP keep-alive (Squall + Redis CPU)", "squall-redis", "keep-alive", "squall-http", "keep-alive", limit: 4.0,
        label: "<= 4x memory store")
    row(
        "Redis store, cost vs swarm size (swarm 1000 / swarm 10)", "squall-redis-swarm1000", "keep-alive", "squall-redis-swarm10",
        "keep-alive", limit: 1.3, label: "<= 1.3x")
    // With paired runs, the private rows' targets are judged on them (side by side with open
    // mode); the sequential runs' ratios are shown too, without a verdict.
    let privateRuns = paired.isEmpty ? runs : paired
    let how = paired.isEmpty ? "" : ", side by side with open mode"
    let privateRows: [(String, String, String, Double, String)] = [
        ("Private mode, HTTP keep-alive (100,000 users, passkey URLs)", "squall-private-http", "squall-http", 1.2, "<= 1.2x open mode"),
        ("Private mode, HTTPS keep-alive", "squall-private-https", "squall-https", 1.2, "<= 1.2x open mode"),
        (
            "Private mode with accounting (unit3d sink, MariaDB CPU counted), HTTP keep-alive", "squall-private-acct-http", "squall-http",
            1.35, "<= 1.35x open mode"
        ),
        ("Private mode with accounting, HTTPS keep-alive", "squall-private-acct-https", "squall-https", 1.35, "<= 1.35x open mode"),
    ]
    for (name, t, ref, limit, label) in privateRows {
        row(name + how, t, "keep-alive", ref, "keep-alive", limit: limit, label: label, in: privateRuns)
    }
    if !paired.isEmpty {
        for (name, t, ref, _, _) in privateRows {
            row(name + ", one after the other", t, "keep-alive", ref, "keep-alive", limit: .infinity, label: "(judged side by side)")
        }
    }
    row(
        "Private mode with accounting on the Redis store (Squall + Redis + MariaDB CPU), HTTP keep-alive",
        "squall-private-acct-redis-http", "keep-alive", "squall-redis", "keep-alive", limit: .infinity, label: "measured (no target)")
    if let text = readFile(dir + "/accounting.tsv") {
        // rep, target, mode, lag now, last flush's lag, pending, failed flushes, history rows:
        // the worst run.
        let rows = text.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }.filter { $0.count >= 7 }
        let lags = rows.compactMap { Int($0[4]) }
        let rates = runs.filter { $0.target.hasPrefix("squall-private-acct") }.map(\.rps)
        if let worst = lags.max() {
            // Flush every 3 s: under two intervals, in runs that reach 20,000 announces a second.
            let (low, high) = (rates.min() ?? 0, rates.max() ?? 0)
            let met = worst < 6 && high >= 20_000 && rows.allSatisfy { $0[6] == "0" }
            md +=
                "| Accounting flush lag (entry to commit), runs of \(fmt(low, 0)) to \(fmt(high, 0)) announces/s | \(worst) s | 2 flush intervals: 6 s | - | < 6 s at 20,000 announces/s, no failed flush | \(met ? "yes" : "no") |\n"
        }
    }
    if let line = readFile(dir + "/redis-memory-1m.txt") {
        let v = Dictionary(
            uniqueKeysWithValues: line.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pair -> (String, Int)? in
                let kv = pair.split(separator: "=")
                return kv.count == 2 ? (String(kv[0]), Int(kv[1]) ?? 0) : nil
            })
        if let squall = v["squall"], let bitstorm = v["bitstorm"], bitstorm > 0 {
            // Issue 11: at most 150 B, and below the layout Squall descends from.
            let met = squall <= 150 && squall < bitstorm
            md +=
                "| Redis used_memory per peer, 1 M peers (\(v["peers"] ?? 0) peers) | \(squall) B | BitStorm layout: \(bitstorm) B | \(fmt(Double(squall) / Double(bitstorm), 2)) | <= 150 B and < BitStorm | \(met ? "yes" : "no") |\n"
        }
    } else if let line = readFile(dir + "/redis-memory.txt"), let value = line.split(separator: " ").first?.split(separator: "=").last {
        md +=
            "| Redis used_memory per peer (\(line.split(separator: "=").last?.trimmingCharacters(in: "\n") ?? "?") peers) | \(value) B | BitStorm layout: not measured | - | - | - |\n"
    }
    if let mem = readFile(dir + "/memory.md") {
        let perPeer = mem.split(separator: "\n").compactMap { line -> Double? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: " ") }
            // The row's last cell is its bytes per peer (the table gained a users column once).
            let filled = cells.filter { !$0.isEmpty }
            return filled.count >= 7 && filled[0] == "zipf" ? filled.last.flatMap { Double($0) } : nil
        }.first
        if let perPeer {
            md +=
                "| memory per peer, 1 M peers (Zipf mix) | \(fmt(perPeer, 0)) B | chihaya about 120 B | - | <= 80 B | \(perPeer <= 80 ? "yes" : "no") |\n"
        }
        md += "\n## Memory store, resident bytes per peer\n\n" + mem + "\n"
    }
    md += processSplit(dir: dir, runs: runs, title: "Where the accounting's CPU goes")
    if !paired.isEmpty {
        md += processSplit(dir: dir + "/paired", runs: paired, title: "Where the accounting's CPU goes, side by side with open mode")
    }
    md += "\n![CPU per announce](cpu.png)\n"
    try writeFile(dir + "/report.md", md)
    try writeFile(dir + "/plot.dat", plot)
    print(md)
}

/// The accounting rows' server CPU split by process (processes.tsv: rep, target, mode, pid,
/// command, user ticks, system ticks): Squall's own share against open mode's in the same
/// repetition, and the database's (and Redis's) share per announce.
func processSplit(dir: String, runs: [Run], title: String) -> String {
    guard let text = readFile(dir + "/processes.tsv") else { return "" }
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    struct Ticks { var squall = 0.0, mariadb = 0.0, redis = 0.0, other = 0.0 }
    var byRun: [String: Ticks] = [:]
    for line in text.split(separator: "\n") {
        let f = line.split(separator: "\t").map(String.init)
        guard f.count >= 7, let u = Double(f[5]), let sy = Double(f[6]) else { continue }
        let seconds = (u + sy) / hz
        var t = byRun["\(f[0])|\(f[1])|\(f[2])"] ?? Ticks()
        switch f[4] {
        case "squall": t.squall += seconds
        case "mariadbd": t.mariadb += seconds
        case "redis-server": t.redis += seconds
        default: t.other += seconds
        }
        byRun["\(f[0])|\(f[1])|\(f[2])"] = t
    }
    let rows: [(String, String, String)] = [
        ("squall-private-acct-http", "squall-private-http", "squall-http"),
        ("squall-private-acct-https", "squall-private-https", "squall-https"),
        ("squall-private-acct-redis-http", "", "squall-redis"),
    ]
    var md = ""
    for (t, privateRef, open) in rows {
        let mine = runs.filter { $0.target == t && $0.mode == "keep-alive" && $0.announces > 0 }
        guard !mine.isEmpty else { continue }
        func us(_ r: Run, _ pick: (Ticks) -> Double) -> Double? {
            byRun["\(r.rep)|\(r.target)|\(r.mode)"].map { pick($0) * 1e6 / r.announces }
        }
        func against(_ ref: String) -> Double {
            median(
                mine.compactMap { r in
                    guard let a = us(r, { $0.squall }),
                        let o = runs.first(where: { $0.rep == r.rep && $0.target == ref && $0.mode == "keep-alive" && $0.announces > 0 }),
                        let b = us(o, { $0.squall }), b > 0
                    else { return nil }
                    return a / b
                })
        }
        let squall = median(mine.compactMap { us($0, { $0.squall }) })
        let db = median(mine.compactMap { us($0, { $0.mariadb }) })
        let redis = median(mine.compactMap { us($0, { $0.redis }) })
        if md.isEmpty {
            md += "\n## \(title)\n\n"
            md += "The accounting rows' server CPU by process (median of the repetitions): Squall's own, against open mode "
            md += "and private mode without accounting in the same repetition (Squall's CPU alone on both sides), "
            md += "and the database's per announce.\n\n"
            md += "| system | Squall us/announce | Squall vs open mode | Squall vs private mode "
            md += "| MariaDB us/announce | Redis us/announce |\n"
            md += "| --- | ---: | ---: | ---: | ---: | ---: |\n"
        }
        md += "| \(t) | \(fmt(squall)) | \(fmt(against(open), 2)) | \(privateRef.isEmpty ? "-" : fmt(against(privateRef), 2)) "
        md += "| \(fmt(db)) | \(fmt(redis)) |\n"
    }
    return md
}

func writeFile(_ path: String, _ text: String) throws {
    guard let f = fopen(path, "w") else { throw BenchClient.Failure(description: "cannot write \(path)") }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    _ = fwrite(bytes, 1, bytes.count, f)
}
