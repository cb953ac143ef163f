-- GET the serial numbers of a device's passes (two per device), cycling over the seeded
-- devices: the query Wallet makes when it is pushed. passesUpdatedSince=0 lists both passes (200).
local counter = 0
local devices = tonumber(os.getenv("BENCH_PASSES") or "10000")
local pass_type = os.getenv("BENCH_PASS_TYPE") or "pass.com.example.test"

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

local i = 0
request = function()
  i = i + 1
  local d = (offset + i) % devices
  return wrk.format("GET", "/passkit/v1/devices/bench-device-" .. d .. "/registrations/" .. pass_type .. "?passesUpdatedSince=0")
end
