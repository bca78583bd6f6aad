-- The request of one benchmark figure, for wrk (scripts/bench.sh): the header named in
-- BENCH_HEADER ("cookie: ..." or "authorization: ..."), if any, on every request; and at the
-- end one parseable line of the figures:
--   bench requests=N non2xx=N errors=N timeouts=N rps=R p50_ms=X p99_ms=Y
-- (non2xx counts the answers with a status of 400 or more and errors the sockets' failures:
-- both must be 0 for the figure to mean anything; timeouts, requests that got no answer
-- within wrk's 2 s, are a figure of their own on a busy machine).
local header = os.getenv("BENCH_HEADER")
if header and header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "bench requests=%d non2xx=%d errors=%d timeouts=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, errors.status, errors.connect + errors.read + errors.write, errors.timeout,
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
