-- GET paths in turn from a file (one per line), with the API key.
-- Environment: WRK_PATHS (file), WRK_KEY.
local paths = {}
local i = 0
local key

function init(args)
  for line in io.lines(os.getenv("WRK_PATHS")) do table.insert(paths, line) end
  key = os.getenv("WRK_KEY")
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer " .. key})
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
