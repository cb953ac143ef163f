#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/seed-*) from the repository's fixtures.

The example template, the real passes under crates/pkpass/tests/data/samples, the Google
Wallet test templates, and a development certificate chain in every key format (made with
`passmint dev-certs`, whose path is the first argument; default target/debug/passmint).
Idempotent: seeds are rewritten, anything else in the corpus is left alone. PNGs are cut to
their first 64 bytes (the size checks read only the header) so the corpus stays small.
The framing of several fields in one input is passmint_fuzz::fields (fuzz/src/lib.rs).
"""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
BOUNDARY = b"FUZZBOUNDARY"  # passmint_fuzz::BOUNDARY


def frame(*parts):
    out = b""
    for part in parts[:-1]:
        out += struct.pack("<H", len(part)) + part
    return out + parts[-1]


def shrink(name, data):
    return data[:64] if name.endswith(".png") else data


def read_tree(folder):
    files = {}
    for base, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                files[rel] = shrink(rel, f.read())
    return files


def zip_of(files, folder=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{folder}/{name}" if folder else name, (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[name])
    return buf.getvalue()


def multipart(fields):
    out = b""
    for name, value in fields:
        out += b"--" + BOUNDARY + b"\r\n"
        if name == "template":
            out += b'Content-Disposition: form-data; name="template"; filename="t.zip"\r\nContent-Type: application/zip\r\n\r\n'
        else:
            out += b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
        out += value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def utf16(text, bom, codec):
    return bom + text.encode(codec)


def main():
    passmint = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/passmint")
    seeds = {}

    def seed(target, name, data):
        seeds.setdefault(target, []).append((name, data))

    templates = []
    folders = [os.path.join(ROOT, "examples/storecard.pass")]
    for base in ["crates/pkpass/tests/data/samples", "crates/gwallet/tests/data/templates"]:
        d = os.path.join(ROOT, base)
        folders += sorted(os.path.join(d, n) for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
    for folder in folders:
        templates.append((os.path.basename(folder).replace(".pass", ""), read_tree(folder)))
    with zipfile.ZipFile(os.path.join(ROOT, "crates/pkpass/tests/data/samples/apple-storecard.pkpass")) as z:
        templates.append(("apple-storecard-signed", {n: shrink(n, z.read(n)) for n in z.namelist()}))

    for name, files in templates:
        seed("template_zip", name, zip_of(files))
        if "pass.json" in files:
            seed("pass_json", name, files["pass.json"])
        for path, data in files.items():
            if path.endswith(".strings"):
                seed("strings", f"{name}-{path.replace('/', '-')}", data)
    example = templates[0][1]
    # The same template inside a wrapping folder. (No zip bomb: each run of one inflates 16 MiB
    # and would slow the whole campaign; crates/pkpass/tests cover the cap.)
    seed("template_zip", "wrapped-folder", zip_of(example, "Storecard.pass"))
    text = '/* comment */\n"POINTS" = "Punkte \\"{{ points }}\\"";\n// line\n"A\\nB" = "\\U00e9\\t";\nbare = word;\n'
    seed("strings", "escapes-utf8bom", b"\xef\xbb\xbf" + text.encode())
    seed("strings", "escapes-utf16le", utf16(text, b"\xff\xfe", "utf-16-le"))
    seed("strings", "escapes-utf16be", utf16(text, b"\xfe\xff", "utf-16-be"))

    passphrase = b"passmint-fuzz"
    with tempfile.TemporaryDirectory() as certs:
        subprocess.run([passmint, "dev-certs", certs, "--passphrase", passphrase.decode(), "--force"],
                       check=True, stdout=subprocess.DEVNULL)
        chain = {}
        for name in os.listdir(certs):
            with open(os.path.join(certs, name), "rb") as f:
                chain[name] = f.read()
    cert, wwdr, root = chain["signer.pem"], chain["wwdr.pem"], chain["root.pem"]
    for name, key in [("pkcs8", "signer.key"), ("pkcs1", "signer.pkcs1.key"),
                      ("encrypted-pkcs8", "signer.pkcs8.key"), ("legacy-des3", "signer.legacy.key"),
                      ("legacy-aes", "signer.legacy-aes.key")]:
        seed("signing_pem", name, frame(cert, chain[key], wwdr, passphrase))
    seed("signing_pem", "wrong-passphrase", frame(cert, chain["signer.pkcs8.key"], wwdr, b"nope"))
    seed("signing_pem", "cert-is-wwdr", frame(wwdr, chain["signer.key"], root, b""))
    seed("signing_p12", "openssl3", frame(passphrase, wwdr, chain["signer.p12"]))
    apple_signed = dict(templates)["apple-storecard-signed"]
    seed("signed_pkpass", "apple-storecard", frame(b"", zip_of(apple_signed)))
    with tempfile.TemporaryDirectory() as out:
        for name, data in chain.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        subprocess.run([passmint, "sign", os.path.join(ROOT, "examples/storecard.pass"), "-o",
                        os.path.join(out, "card.pkpass"), "--cert", os.path.join(out, "signer.pem"),
                        "--key", os.path.join(out, "signer.key"), "--wwdr", os.path.join(out, "wwdr.pem"),
                        "--passphrase", passphrase.decode(),
                        "--payload", os.path.join(ROOT, "examples/payload.json")],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "card.pkpass"), "rb") as f:
            dev_signed = f.read()
    seed("signed_pkpass", "dev-signed-trusted", frame(root, dev_signed))
    seed("signed_pkpass", "dev-signed-foreign", frame(b"", dev_signed))
    if "signer.legacy.p12" in chain:
        seed("signing_p12", "keychain-rc2", frame(passphrase, wwdr, chain["signer.legacy.p12"]))

    fields = [("template", zip_of(example)), ("name", b"Store card"), ("fileName", b"storecard.pkpass"),
              ("teamIdentifier", b"TEAM123456"), ("passTypeIdentifier", b"pass.com.example.test"),
              ("wwdr", wwdr), ("signerCert", cert), ("signerKey", chain["signer.key"]),
              ("signerKeyPassphrase", b"")]
    seed("upload_form", "complete", multipart(fields))
    encrypted = fields[:7] + [("signerKey", chain["signer.pkcs8.key"]), ("signerKeyPassphrase", passphrase),
                              ("unknown", b"ignored")]
    seed("upload_form", "encrypted-key", multipart(encrypted))
    seed("upload_form", "fields-only", multipart(fields[1:]))

    token = "0123456789abcdef" * 4
    seed("passkit_registration", "hex64", json.dumps({"pushToken": token}).encode())
    seed("passkit_registration", "upper-spaces", json.dumps({"pushToken": f" {token.upper()} "}).encode())
    seed("passkit_registration", "not-hex", b'{"pushToken":"zz"}')
    seed("passkit_log", "two", b'{"logs":["[2026-01-01] Web service error for pass.com.example: 401","x"]}')
    seed("passkit_log", "escapes", b'{"logs":["line\\nrequest finished status=201","\\u0000\\u2028\xc3\xa9",5,null]}')
    seed("personalize_request", "ada", b'{"personalizationToken":"tok","requiredPersonalizationInfo":{"fullName":"Ada Lovelace","givenName":"Ada","familyName":"Lovelace","emailAddress":"ada@example.com","ISOCountryCode":"GB","postalCode":"N1 9GU","phoneNumber":"+44 20 7946 0000"}}')
    seed("personalize_request", "hostile", b'{"personalizationToken":5,"requiredPersonalizationInfo":{"fullName":"a\\u0000b","ISOCountryCode":"GBR","x":[]},"extra":null}')
    seed("passkit_request", "typical", frame(b"a1b2c3d4e5f60718293a4b5c6d7e8f90", b"passesUpdatedSince=1700000000123",
                                             b"Sun, 06 Nov 1994 08:49:37 GMT",
                                             b"ApplePass AbCdEf0123456789_-AbCdEf0123456789_-AbC"))

    with open(os.path.join(ROOT, "examples/payload.json"), "rb") as f:
        payload = f.read()
    seed("render", "example", frame(payload, b"null", b'Ada "the" Lovelace'))
    seed("render", "voided", frame(payload, b'{"voided": true, "expirationDate": "2030-01-01T00:00:00Z"}',
                                   b'\\"; "x" = "y'))
    seed("render", "issuer-key", frame(payload, b'{"serialNumber": "x"}', b"{{ points }}\n\r\t\x7f\xe2\x80\xa8"))

    pid = "0190d3c1-7a2b-7c3d-8e4f-a1b2c3d4e5f6"
    p = payload.decode()
    seed("api_body", "create", b"\x00" + f'{{"templateId":"{pid}","payload":{p},"serialNumber":"S-1","overrides":{{"voided":false}}}}'.encode())
    seed("api_body", "batch", b"\x01" + f'{{"templateId":"{pid}","items":[{{"payload":{p}}},{{"payload":{{}},"serialNumber":"x"}}]}}'.encode())
    seed("api_body", "change", b"\x02" + f'{{"payload":{p},"overrides":null,"voided":true}}'.encode())

    total = 0
    for target, items in seeds.items():
        os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
        for name, data in items:
            with open(os.path.join(CORPUS, target, f"seed-{name}"), "wb") as f:
                f.write(data)
            total += len(data)
    print(f"{sum(len(v) for v in seeds.values())} seed files, {total} bytes, in {CORPUS}")


if __name__ == "__main__":
    main()
