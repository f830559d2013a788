// The official 0G compute SDK, unchanged, against the devnet provider: ledger, services,
// acknowledgement, request headers, an OpenAI-compatible call, processResponse.
// Input (env): RPC_URL, PRIVATE_KEY, LEDGER, INFERENCE, PROVIDER. Output: one JSON line.
import { ethers } from "ethers";
import { createZGComputeNetworkBroker } from "@0gfoundation/0g-compute-ts-sdk";

const { RPC_URL, PRIVATE_KEY, LEDGER, INFERENCE, PROVIDER } = process.env;
const wallet = new ethers.Wallet(PRIVATE_KEY, new ethers.JsonRpcProvider(RPC_URL));
// Chain id 31337 maps to the SDK's hardhat defaults, so the devnet addresses go explicitly.
const broker = await createZGComputeNetworkBroker(wallet, LEDGER, INFERENCE);

await broker.ledger.addLedger(10);
const ledger = await broker.ledger.getLedger();
const services = await broker.inference.listService();
const service = services.find((s) => s.provider.toLowerCase() === PROVIDER.toLowerCase());
await broker.inference.acknowledgeProviderSigner(PROVIDER);
const { endpoint, model } = await broker.inference.getServiceMetadata(PROVIDER);
const headers = await broker.inference.getRequestHeaders(PROVIDER);

const body = JSON.stringify({ model, messages: [{ role: "user", content: "hello from the sdk" }] });
const response = await fetch(`${endpoint}/chat/completions`, {
  method: "POST",
  headers: { "Content-Type": "application/json", ...headers },
  body,
});
const data = await response.json();
const chatID = response.headers.get("ZG-Res-Key") || data.id;
const valid = await broker.inference.processResponse(PROVIDER, chatID, JSON.stringify(data.usage));
const account = await broker.inference.getAccount(PROVIDER);

console.log(
  JSON.stringify({
    ledgerTotal: ledger.totalBalance.toString(),
    listed: Boolean(service),
    serviceUrl: service?.url,
    endpoint,
    model,
    status: response.status,
    chatID,
    usage: data.usage,
    content: data.choices?.[0]?.message?.content,
    valid,
    accountBalance: account.balance.toString(),
  }),
);
process.exit(0);
