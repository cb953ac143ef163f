-- POST a new registration (201): a fresh device id per request, cycling over the seeded passes
-- (at most a few hundred new devices per pass in a run, under the 1,000 cap).
local counter = 0
local passes = tonumber(os.getenv("BENCH_PASSES") or "10000")
local pass_type = os.getenv("BENCH_PASS_TYPE") or "pass.com.example.test"
local run = os.getenv("BENCH_RUN") or tostring(os.time())

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local i = 0
request = function()
  i = i + 1
  local p = (tid * 7919 + i) % passes
  local device = "wrk-" .. run .. "-" .. tid .. "-" .. i
  return wrk.format("POST",
    "/passkit/v1/devices/" .. device .. "/registrations/" .. pass_type .. "/bench-" .. p,
    {
      ["Authorization"] = "ApplePass bench-token-" .. p .. "-0123456789abcdef0123456789",
      ["Content-Type"] = "application/json",
    },
    '{"pushToken":"' .. string.rep("ab", 32) .. '"}')
end
