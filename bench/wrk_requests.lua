-- wrk script for bench/bench_http.py. The Python side prepends a table
--   REQUESTS = { {method=, path=, headers={...}, body=}, ... }
--   EXPECT = 200          -- the status every response should have
--   KEY_PREFIX = "..."    -- for "Idempotency-Key: <prefix>-<thread>-<n>" when KEYED
--   KEYED = false
-- Each thread sends its share of REQUESTS in rotation (request i goes to thread
-- i mod threads), so the connections of a thread have different members'
-- sessions in flight. done() prints one JSON line with the figures.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[1]) or 1
  mine = {}
  for i, r in ipairs(REQUESTS) do
    if (i - 1) % nthreads == tid then
      table.insert(mine, r)
    end
  end
  if #mine == 0 then mine = REQUESTS end
  bad = 0
  statuses = {}
  n = 0
end

function request()
  n = n + 1
  local r = mine[(n - 1) % #mine + 1]
  local headers = {}
  for k, v in pairs(r.headers) do headers[k] = v end
  if KEYED then
    headers["Idempotency-Key"] = KEY_PREFIX .. "-" .. tid .. "-" .. n
  end
  return wrk.format(r.method, r.path, headers, r.body)
end

function response(status, headers, body)
  if status ~= EXPECT then
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local wrong = 0
  local seen = {}
  for _, t in ipairs(threads) do
    wrong = wrong + (t:get("bad") or 0)
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do seen[#seen + 1] = '"' .. k .. '":' .. v end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"unexpected_status":%d,"unexpected":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout, wrong,
    table.concat(seen, ",")))
end
