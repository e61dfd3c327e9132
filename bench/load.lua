-- wrk script for bench/run.py: one scenario per wrk run, described by the file in BENCH_INPUT.
--
-- Input lines (one setting per line, first word is the key):
--   method GET|POST           path /api/v1/posts/{post}/    body {"post_id": {post}, "dir": 1}
--   ctype application/json    token <jwt> (many)           post <id> (many)    login <form body> (many)
--   keyed 1 (each request sends its own Idempotency-Key)    nonce <text> (new for every wrk run)
-- In path and body, {post} becomes a random post id and {n} a per-request counter.
-- done() prints one line "BENCH-RESULT <json>" that run.py reads back.

local cfg = { tokens = {}, posts = {}, logins = {} }
for line in io.lines(os.getenv("BENCH_INPUT")) do
  local key, value = line:match("^(%S+) (.*)$")
  if key == "token" then
    table.insert(cfg.tokens, "Bearer " .. value)
  elseif key == "post" then
    table.insert(cfg.posts, value)
  elseif key == "login" then
    table.insert(cfg.logins, value)
  elseif key then
    cfg[key] = value
  end
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  -- Each thread draws its own sequence; counters never collide between threads.
  math.randomseed(os.time() * 100 + id)
  counter = id * 100000000
  statuses = {}
end

local function any(list)
  return list[math.random(#list)]
end

function request()
  counter = counter + 1
  local post = #cfg.posts > 0 and any(cfg.posts) or "0"
  local path = cfg.path:gsub("{post}", post)
  local body = cfg.body
  if #cfg.logins > 0 then
    body = any(cfg.logins)
  elseif body then
    body = body:gsub("{post}", post):gsub("{n}", tostring(counter))
  end
  local headers = { Accept = "application/json" }
  if body then
    headers["Content-Type"] = cfg.ctype or "application/json"
  end
  if #cfg.tokens > 0 then
    headers["Authorization"] = any(cfg.tokens)
  end
  if cfg.keyed then
    headers["Idempotency-Key"] = "bench-" .. (cfg.nonce or "") .. "-" .. counter
  end
  return wrk.format(cfg.method or "GET", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals, codes = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do
    codes[#codes + 1] = string.format('"%d": %d', status, n)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "socket_errors": %d, "codes": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    errors.connect + errors.read + errors.write + errors.timeout, table.concat(codes, ", ")))
end
