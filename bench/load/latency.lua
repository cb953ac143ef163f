-- Shared by every run: prints one machine-readable line (requests/s, p99 ms, non-2xx/3xx).
done = function(summary, latency, requests)
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("RESULT rps=%.0f p99_ms=%.2f p50_ms=%.2f errors=%d non2xx3xx=%d\n",
    rps, latency:percentile(99) / 1000, latency:percentile(50) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
