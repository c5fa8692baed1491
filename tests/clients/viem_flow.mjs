// What an integrator does with viem 2 against a cityledger node: deploy, send, wait for the
// receipt, read, estimate gas, decode reverts (a custom error, a reason, a panic), read logs by
// query, by filters (eth_newFilter, eth_newBlockFilter) and by subscription (eth_subscribe over
// WebSocket), send a batch, transfer value. Prints one JSON object of what it saw; exits 1 on a
// failure. Environment: RPC_URL, WS_URL, CHAIN_ID, PRIVATE_KEY, EMITTER (compiled contract).
import { readFileSync } from "node:fs";
import {
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  webSocket,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

const env = process.env;
const emitter = JSON.parse(readFileSync(env.EMITTER, "utf8"));
const chain = defineChain({
  id: Number(env.CHAIN_ID),
  name: "cityledger",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [env.RPC_URL], webSocket: [env.WS_URL] } },
});
const account = privateKeyToAccount(env.PRIVATE_KEY);
const client = createPublicClient({ chain, transport: http(env.RPC_URL, { batch: true }), pollingInterval: 200 });
const wallet = createWalletClient({ account, chain, transport: http(env.RPC_URL) });
const ws = createPublicClient({ chain, transport: webSocket(env.WS_URL) });
const seen = {};

function within(ms, promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing in ${ms} ms`)), ms)),
  ]);
}

async function revertOf(functionName, args, address) {
  try {
    await client.simulateContract({ address, abi: emitter.abi, functionName, args, account });
  } catch (error) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    return {
      name: reverted?.data?.errorName ?? null,
      args: (reverted?.data?.args ?? []).map(String),
      reason: reverted?.reason ?? null,
    };
  }
  throw new Error("expected a revert");
}

const stop = [];
try {
  const deployed = await client.waitForTransactionReceipt({
    hash: await wallet.deployContract({ abi: emitter.abi, bytecode: emitter.bytecode }),
  });
  const address = deployed.contractAddress;
  seen.deployed = Boolean(address);

  const write = async (key, value) =>
    client.waitForTransactionReceipt({
      hash: await wallet.writeContract({ address, abi: emitter.abi, functionName: "store", args: [key, value] }),
    });
  seen.receiptStatus = (await write(1n, 42n)).status;
  seen.value = String(await client.readContract({ address, abi: emitter.abi, functionName: "values", args: [1n] }));
  seen.estimate =
    (await client.estimateContractGas({ address, abi: emitter.abi, functionName: "store", args: [2n, 7n], account })) >
    21000n;

  seen.customError = await revertOf("store", [1n, 10n ** 19n], address);
  seen.reasonString = await revertOf("fail", ["no entry"], address);
  seen.panic = await revertOf("divide", [1n, 0n], address);

  const logs = await client.getContractEvents({ address, abi: emitter.abi, eventName: "Stored", fromBlock: 0n });
  seen.queriedLogs = logs.map((log) => String(log.args.value));

  const eventFilter = await client.createContractEventFilter({ address, abi: emitter.abi, eventName: "Stored" });
  const blockFilter = await client.createBlockFilter();
  const pushed = new Promise((resolve) => {
    stop.push(ws.watchContractEvent({ address, abi: emitter.abi, eventName: "Stored", onLogs: (l) => resolve(String(l[0].args.value)) }));
  });
  const heads = new Promise((resolve) => {
    stop.push(ws.watchBlockNumber({ onBlockNumber: (number) => resolve(number) }));
  });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let the subscriptions start
  await write(3n, 99n);
  seen.filteredEvents = (await client.getFilterChanges({ filter: eventFilter })).map((l) => String(l.args.value));
  seen.filteredBlocks = (await client.getFilterChanges({ filter: blockFilter })).length > 0;
  await client.uninstallFilter({ filter: eventFilter });
  seen.subscribedEvent = await within(20000, pushed, "subscribed event");
  seen.newHead = (await within(20000, heads, "new head")) > 0n;

  const [chainId, blockNumber, balance] = await Promise.all([
    client.getChainId(),
    client.getBlockNumber(),
    client.getBalance({ address: account.address }),
  ]);
  seen.batch = [chainId === chain.id, blockNumber > 0n, balance > 0n];

  const recipient = privateKeyToAccount(generatePrivateKey()).address;
  await client.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: recipient, value: 12345n }) });
  seen.transferred = String(await client.getBalance({ address: recipient }));
  console.log(JSON.stringify(seen));
} catch (error) {
  console.log(JSON.stringify({ ...seen, failure: String(error?.stack ?? error) }));
  process.exitCode = 1;
} finally {
  for (const unwatch of stop) unwatch();
  await (await ws.transport.getRpcClient?.())?.close?.();
  process.exit(process.exitCode ?? 0);
}
