-- wrk script for bench/webhook.py: send prebuilt requests from a file, each at most once.
--
--   wrk -t2 -c16 -d6s -s bench/wrk_deliveries.lua URL -- REQUESTS_FILE THREADS
--
-- REQUESTS_FILE holds raw HTTP requests, each as "<length>\n<bytes>"; thread i of THREADS sends
-- those whose index is i modulo THREADS, in order. The file must hold more than the run can
-- send: a thread that runs out starts again from its first request (those are then duplicates,
-- cheaper than the rest) and `done` reports it as "wrapped", which bench/webhook.py refuses.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  mine, sent, wrapped = {}, 0, 0
  local pos, index, count = 1, 0, tonumber(args[2])
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    if index % count == id then
      mine[#mine + 1] = data:sub(newline + 1, newline + length)
    end
    index = index + 1
    pos = newline + 1 + length
  end
end

function request()
  sent = sent + 1
  if sent > #mine then
    sent, wrapped = 1, wrapped + 1
  end
  return mine[sent]
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "refused": %d, "socket_errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "wrapped": %d}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, wraps))
end
