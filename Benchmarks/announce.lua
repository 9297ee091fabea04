-- announce.lua: the wrk load for Squall's benchmark (Benchmarks/run drives it).
--
-- The population matches `squall-bench pool/preload`: torrent k (0-based) of the pool file has
-- clamp(floor(SWARM_MAX / (k+1)), SWARM_MIN, SWARM_MAX) peers; peer j has peer_id
-- -SB0001-%06d%06d (k, j), port 10000 + j, and is a seed when j % 10 < 3 (30 %).
-- Each announce picks a peer uniformly from all peers (busy torrents get more announces),
-- with events 2 % started, 2 % stopped, 1 % completed, numwant NUMWANT, compact, and
-- info_hash and peer_id fully percent-encoded, as libtorrent sends them.
--
-- Environment: POOL (file of hex info_hashes, one per line), SWARM_MAX (1000), SWARM_MIN (5),
-- NUMWANT (50), CLOSE (1: send Connection: close, one TCP connection per announce), USERS (a
-- private tracker: each peer announces at /announce/PASSKEY of its user, the user and passkey
-- as `squall-bench`'s Pool.user and Pool.passkey make them).
--
-- Every reply is checked: HTTP 200, a bencoded dictionary with an integer interval and no
-- failure reason. `done` prints one line: BENCH requests=... failures=... p50_us=... p99_us=...

local pool_file = os.getenv("POOL") or error("POOL is not set")
local swarm_max = tonumber(os.getenv("SWARM_MAX") or "1000")
local swarm_min = tonumber(os.getenv("SWARM_MIN") or "5")
local numwant = os.getenv("NUMWANT") or "50"
local close = os.getenv("CLOSE") == "1"
local users = tonumber(os.getenv("USERS") or "0")

local hashes, cum = {}, { [0] = 0 }
for line in io.lines(pool_file) do
  if #line == 40 then
    hashes[#hashes + 1] = line:gsub("..", function(h) return "%" .. h:upper() end)
    local k = #hashes
    local size = math.min(swarm_max, math.max(swarm_min, math.floor(swarm_max / k)))
    cum[k] = cum[k - 1] + size
  end
end
local torrents = #hashes
local total = cum[torrents]

local function encode(s)
  return (s:gsub(".", function(c) return string.format("%%%02X", c:byte()) end))
end

local peer_ids = {}
local function peer_id(k, j)
  local key = k * 100000 + j
  local id = peer_ids[key]
  if not id then
    id = encode(string.format("-SB0001-%06d%06d", k - 1, j))
    peer_ids[key] = id
  end
  return id
end

local headers = { ["Host"] = "tracker", ["User-Agent"] = "squall-bench/1" }
if close then headers["Connection"] = "close" end
local path = wrk.path

function request()
  local r = math.random(total)
  local lo, hi = 1, torrents
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cum[mid] >= r then hi = mid else lo = mid + 1 end
  end
  local k = lo
  local j = r - cum[k - 1] - 1
  local base = path
  if users > 0 then base = path .. string.format("/%032d", ((k - 1) * 100000 + j) % users + 1) end
  local left = (j % 10 < 3) and "0" or "1000000"
  local event = ""
  local roll = math.random(100)
  if roll <= 2 then event = "&event=started"
  elseif roll <= 4 then event = "&event=stopped"
  elseif roll <= 5 then event = "&event=completed"; left = "0" end
  return wrk.format("GET", base .. "?info_hash=" .. hashes[k] .. "&peer_id=" .. peer_id(k, j)
    .. "&port=" .. (10000 + j) .. "&uploaded=0&downloaded=0&left=" .. left .. "&corrupt=0&key=5A5A5A5A"
    .. event .. "&numwant=" .. numwant .. "&compact=1&no_peer_id=1&supportcrypto=1", headers)
end

failures = 0
function response(status, _, body)
  if status ~= 200 or body:sub(1, 1) ~= "d" or body:sub(-1) ~= "e"
     or body:find("failure reason", 1, true) or not body:find("8:intervali", 1, true) then
    failures = failures + 1
  end
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, _)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + (t:get("failures") or 0) end
  local e = summary.errors
  io.write(string.format("BENCH requests=%d failures=%d errors=%d p50_us=%d p99_us=%d duration_us=%d\n",
    summary.requests, failed, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
