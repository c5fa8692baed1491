// What an integrator does with ethers v6 against a cityledger node: deploy, send, wait for the
// receipt, call, estimate gas, decode reverts (a custom error, a reason, a panic), read logs by
// query, by filter polling (eth_newFilter) and by subscription (eth_subscribe over WebSocket),
// send a batch, transfer value. Prints one JSON object of what it saw; exits 1 on a failure.
// Environment: RPC_URL, WS_URL, CHAIN_ID, PRIVATE_KEY, EMITTER (path of the compiled contract).
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const env = process.env;
const emitter = JSON.parse(readFileSync(env.EMITTER, "utf8"));
const chainId = Number(env.CHAIN_ID);
const seen = {};

function within(ms, promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing in ${ms} ms`)), ms)),
  ]);
}

async function revertOf(call) {
  try {
    await call();
  } catch (error) {
    return { name: error.revert?.name ?? null, args: (error.revert?.args ?? []).map(String), reason: error.reason ?? null };
  }
  throw new Error("expected a revert");
}

// ethers answers a repeated request from a 250 ms cache by default: a transaction final within
// that time (blocks here are) would reuse a nonce the cache still shows as pending. Off.
const provider = new ethers.JsonRpcProvider(env.RPC_URL, chainId, {
  staticNetwork: true,
  pollingInterval: 200,
  cacheTimeout: -1,
});
const wallet = new ethers.Wallet(env.PRIVATE_KEY, provider);
const ws = new ethers.WebSocketProvider(env.WS_URL, chainId);
try {
  const factory = new ethers.ContractFactory(emitter.abi, emitter.bytecode, wallet);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  seen.deployed = ethers.isAddress(await contract.getAddress());

  const receipt = await (await contract.store(1, 42)).wait();
  seen.receiptStatus = receipt.status;
  seen.value = String(await contract.values(1));
  seen.estimate = Number(await contract.store.estimateGas(2, 7)) > 21000;

  seen.customError = await revertOf(() => contract.store.staticCall(1, 10n ** 19n));
  seen.reasonString = await revertOf(() => contract.fail.staticCall("no entry"));
  seen.panic = await revertOf(() => contract.divide.staticCall(1, 0));

  const logs = await contract.queryFilter(contract.filters.Stored(), 0);
  seen.queriedLogs = logs.map((log) => String(log.args.value));

  // Filter polling (eth_newFilter + eth_getFilterChanges) over HTTP, a subscription over WS.
  const polled = new Promise((resolve) => contract.on("Stored", (sender, key, value) => resolve(String(value))));
  const wsContract = new ethers.Contract(await contract.getAddress(), emitter.abi, ws);
  const pushed = new Promise((resolve) => wsContract.on("Stored", (sender, key, value) => resolve(String(value))));
  const heads = new Promise((resolve) => ws.once("block", (number) => resolve(number)));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let both install their filters
  await (await contract.store(3, 99)).wait();
  seen.polledEvent = await within(20000, polled, "polled event");
  seen.subscribedEvent = await within(20000, pushed, "subscribed event");
  seen.newHead = (await within(20000, heads, "new head")) > 0;

  const batch = await provider._send([
    { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] },
    { jsonrpc: "2.0", id: 2, method: "eth_blockNumber", params: [] },
    { jsonrpc: "2.0", id: 3, method: "eth_getBalance", params: [wallet.address, "latest"] },
  ]);
  seen.batch = batch.map((answer) => answer.id);

  const recipient = ethers.Wallet.createRandom().address;
  await (await wallet.sendTransaction({ to: recipient, value: 12345n })).wait();
  seen.transferred = String(await provider.getBalance(recipient));
  console.log(JSON.stringify(seen));
} catch (error) {
  console.log(JSON.stringify({ ...seen, failure: String(error?.stack ?? error) }));
  process.exitCode = 1;
} finally {
  provider.destroy();
  await ws.destroy();
}
