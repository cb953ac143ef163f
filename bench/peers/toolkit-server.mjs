// The in-memory PassKit web service peer of bench/issuing.sh: Fastify with
// fastify-passkit-webservice (the passkit-webservice-toolkit integration), registrations kept in
// a Map (nothing durable), every pass's token accepted if it was seeded.
//
//   node toolkit-server.mjs PORT PASSES
//
// Seeds tokens `bench-token-<i>-0123456789abcdef0123456789` for i in 0..PASSES, the same scheme
// as passmint's seed, so the same wrk script drives both.
import Fastify from "fastify";

const [port, passes] = process.argv.slice(2).map(Number);
const tokens = new Set();
for (let i = 0; i < passes; i++) tokens.add(`bench-token-${i}-0123456789abcdef0123456789`);
const registrations = new Map();

const app = Fastify({ logger: false });
await app.register(import("fastify-passkit-webservice/v1/registration.js"), {
  prefix: "/passkit",
  async tokenVerifier(token) {
    return tokens.has(token);
  },
  async onRegister(device, passType, serial, pushToken) {
    const key = `${device}/${passType}/${serial}`;
    const isNew = !registrations.has(key);
    registrations.set(key, pushToken);
    return isNew;
  },
  async onUnregister(device, passType, serial) {
    registrations.delete(`${device}/${passType}/${serial}`);
  },
});
await app.listen({ port, host: "127.0.0.1" });
console.log(`toolkit listening on ${port}`);
