// Signs and recovers with ethers@6 (the library the 0G SDK and browser wallets use) so the
// Python tests can check interoperability in both directions.
// Reads one JSON request on stdin, writes one JSON answer on stdout; every list in the
// answer is parallel to the list of the same name in the request.
import { ethers } from "ethers";

const toMessage = (m) => ("hex" in m ? ethers.getBytes(m.hex) : m.text);

function attempt(fn) {
  try {
    return { ok: fn() };
  } catch (e) {
    return { error: e.shortMessage ?? e.message };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const answer = {
  personal_sign: (request.personal_sign ?? []).map((r) =>
    new ethers.Wallet(r.key).signMessageSync(toMessage(r.message)),
  ),
  personal_recover: (request.personal_recover ?? []).map((r) =>
    attempt(() => ethers.verifyMessage(toMessage(r.message), r.signature)),
  ),
  typed_hash: (request.typed_hash ?? []).map((r) =>
    ethers.TypedDataEncoder.hash(r.domain, r.types, r.value),
  ),
  typed_sign: (request.typed_sign ?? []).map((r) =>
    new ethers.Wallet(r.key).signingKey.sign(ethers.TypedDataEncoder.hash(r.domain, r.types, r.value))
      .serialized,
  ),
  typed_recover: (request.typed_recover ?? []).map((r) =>
    attempt(() => ethers.verifyTypedData(r.domain, r.types, r.value, r.signature)),
  ),
  // The 0G SDK's session-token signature: signMessage over the 32 bytes of keccak256(raw).
  session_sign: (request.session_sign ?? []).map((r) =>
    new ethers.Wallet(r.key).signMessageSync(
      Buffer.from(ethers.keccak256(ethers.toUtf8Bytes(r.raw)).slice(2), "hex"),
    ),
  ),
  radix36: (request.radix36 ?? []).map((x) => x.toString(36)),
  checksum: (request.checksum ?? []).map((a) => attempt(() => ethers.getAddress(a))),
};
process.stdout.write(JSON.stringify(answer));
