// pass-js issuing passes in-process, nothing stored: the peer figure of bench/issuing.sh.
//
//   node passjs-issue.mjs TEMPLATE_DIR SIGNER_CERT_PEM SIGNER_KEY_PEM SECONDS
//
// Loads the template folder once, then for SECONDS builds passes with per-holder data (serial,
// token, member fields, barcode) and waits for each signed .pkpass buffer, one after another
// (pass-js signs with node-forge on the event loop, so one process uses one core). Prints
// `passes=<n> seconds=<s>`.
import { readFileSync } from "node:fs";
import { Template } from "@walletpass/pass-js";

const [dir, certPath, keyPath, seconds] = process.argv.slice(2);
const template = await Template.load(dir);
template.setCertificate(readFileSync(certPath, "utf8"));
template.setPrivateKey(readFileSync(keyPath, "utf8"));

const run = `${process.pid}`;
const start = process.hrtime.bigint();
const limit = BigInt(Math.round(Number(seconds) * 1e9));
let n = 0;
let bytes = 0;
while (process.hrtime.bigint() - start < limit) {
  const serial = `pjs-${run}-${n}`;
  const pass = template.createPass({
    serialNumber: serial,
    authenticationToken: `token-${serial}-0123456789abcdef`,
    webServiceURL: "https://passes.example.com/passkit",
    barcodes: [{ format: "PKBarcodeFormatQR", message: `M-${n}`, messageEncoding: "iso-8859-1" }],
  });
  pass.primaryFields.add({ key: "balance", label: "Balance", value: n % 1000 });
  pass.secondaryFields.add({ key: "member", label: "Member", value: `Holder ${n}` });
  const buffer = await pass.asBuffer();
  bytes += buffer.length;
  n += 1;
}
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`passes=${n} seconds=${elapsed.toFixed(3)} bytes_per_pass=${n ? Math.round(bytes / n) : 0}`);
