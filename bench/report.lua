-- bench/report.lua: wrk's summary in one machine-readable line (run.sh parses it).
-- RESULT requests duration_us p50_us p90_us p99_us max_us connect read write status timeout
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
