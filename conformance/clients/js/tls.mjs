// TLS check for amplifybackendd with the AWS SDK for JavaScript v3. The
// server serves HTTPS with a certificate from a CA Node is given through
// NODE_EXTRA_CA_CERTS; the endpoint comes from the config file the server
// wrote (AWS_CONFIG_FILE). One JSON line per check, then the client and
// its version.

import { createRequire } from "node:module";
import { AmplifyBackendClient, ListS3BucketsCommand } from "@aws-sdk/client-amplifybackend";
import { recordEndpoint } from "./endpoint.mjs";

const report = (check, ok, detail = "") => console.log(JSON.stringify({ check, ok, detail }));

const c = new AmplifyBackendClient({});
const sent = recordEndpoint(c);
try {
  await c.send(new ListS3BucketsCommand({}));
  report("signed_call", true);
} catch (e) {
  report("signed_call", false, String(e));
}
report("https_endpoint", sent.to.startsWith("https:"), sent.to);

const bad = new AmplifyBackendClient({
  credentials: { accessKeyId: process.env.AB_KEY_ID, secretAccessKey: process.env.AB_WRONG_SECRET },
  maxAttempts: 1,
});
try {
  await bad.send(new ListS3BucketsCommand({}));
  report("invalid_signature", false, "a wrong secret was accepted");
} catch (e) {
  report("invalid_signature", e.name === "InvalidSignatureException", e.name);
}
const require = createRequire(import.meta.url);
console.log(JSON.stringify({ client: "aws-sdk-js-v3", version: require("@aws-sdk/client-amplifybackend/package.json").version }));
