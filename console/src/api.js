// Every call the console makes is SigV4-signed in the browser: the
// AmplifyBackend operations by the official SDK client, the two /console-api/
// extension routes by the SDK's SignatureV4 signer with the client's own
// SHA-256. The key and secret live in sessionStorage only (gone when the tab
// closes) and are sent nowhere: only signatures leave the browser.

import { AmplifyBackendClient, ListS3BucketsCommand } from "@aws-sdk/client-amplifybackend";
import { SignatureV4 } from "@smithy/signature-v4";

const STORAGE_KEY = "amplifybackendd.console.credentials";
const SERVICE = "amplifybackend";
// The server accepts any region in the credential scope; the buckets' own
// region comes from GetBackend's amplify-meta.
export const SIGNING_REGION = "us-east-1";

let session = null;

function makeSession(credentials) {
  const client = new AmplifyBackendClient({
    endpoint: window.location.origin,
    region: SIGNING_REGION,
    credentials,
    maxAttempts: 3,
  });
  keepRawAnswers(client);
  const signer = new SignatureV4({
    service: SERVICE,
    region: SIGNING_REGION,
    credentials,
    sha256: client.config.sha256,
  });
  return { credentials, client, signer };
}

/**
 * keepRawAnswers gives every command's output a $raw member: the answer's
 * JSON as the server sent it. The SDK keeps only the service model's
 * members, and the server's warnings (on jobs and GetBackend) are a member
 * beyond the model. The inner middleware reads the body before the SDK's
 * deserializer does and hands it on as bytes, which the deserializer takes
 * as they are; the outer one puts what it parsed on the output.
 */
function keepRawAnswers(client) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const response = result.response;
      if (response?.body && typeof response.body !== "string" && !(response.body instanceof Uint8Array)) {
        response.body = await client.config.streamCollector(response.body);
      }
      if (response?.body instanceof Uint8Array) {
        try {
          context.rawAnswer = JSON.parse(new TextDecoder().decode(response.body));
        } catch {
          context.rawAnswer = undefined; // not JSON: the deserializer says why
        }
      }
      return result;
    },
    { step: "deserialize", name: "keepRawAnswerBody", priority: "low" },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (result.output && context.rawAnswer !== undefined) result.output.$raw = context.rawAnswer;
      return result;
    },
    { step: "initialize", name: "keepRawAnswer", priority: "high" },
  );
}

/** restore picks up a session kept in this tab's sessionStorage. */
export function restore() {
  try {
    const c = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (c && typeof c.accessKeyId === "string" && typeof c.secretAccessKey === "string") {
      session = makeSession({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey });
    }
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  return session !== null;
}

/**
 * signIn checks the key with a signed ListS3Buckets call and keeps it only
 * when the server accepted it; on refusal it throws the API's error and
 * stores nothing.
 */
export async function signIn(accessKeyId, secretAccessKey) {
  const s = makeSession({ accessKeyId, secretAccessKey });
  try {
    await s.client.send(new ListS3BucketsCommand({}));
  } catch (err) {
    s.client.destroy();
    throw err;
  }
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ accessKeyId, secretAccessKey }));
  session = s;
}

export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  session?.client.destroy();
  session = null;
}

export const signedIn = () => session !== null;
export const accessKeyId = () => session?.credentials.accessKeyId ?? "";

/** send runs an SDK command with the session's client. */
export function send(command) {
  if (!session) return Promise.reject(Object.assign(new Error("Not signed in."), { name: "NotSignedIn" }));
  return session.client.send(command);
}

/** consoleGet makes a signed GET to a /console-api/ route; path is already escaped. */
export function consoleGet(path) {
  return consoleCall("GET", path);
}

/** errorText is what the console shows for a failed call: the API's error name and message. */
export function errorText(err) {
  if (!err) return "Unknown error.";
  const name = err.name && err.name !== "Error" ? err.name : "";
  const message = err.message || "";
  if (name && message && message !== name) return `${name}: ${message}`;
  return name || message || String(err);
}

export const esc = encodeURIComponent;

/** consolePost makes a signed POST of body, as JSON, to a /console-api/ route; path is already escaped. */
export function consolePost(path, body) {
  return consoleCall("POST", path, JSON.stringify(body ?? {}));
}

/**
 * consoleCall signs one request to a /console-api/ route and answers its
 * JSON; a refusal throws an Error named after the API's error type, as the
 * SDK's errors are, so errorText shows both alike.
 */
async function consoleCall(method, path, body) {
  if (!session) throw Object.assign(new Error("Not signed in."), { name: "NotSignedIn" });
  const url = new URL(path, window.location.origin);
  const headers = { host: url.host };
  if (body !== undefined) headers["content-type"] = "application/json";
  const signed = await session.signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query: {},
    headers,
    body,
  });
  const sent = { ...signed.headers };
  delete sent.host; // the browser sends it; fetch may not set it
  const resp = await fetch(url, { method, headers: sent, body, credentials: "omit", cache: "no-store" });
  let answer = {};
  try {
    answer = await resp.json();
  } catch {
    // not JSON: fall through with an empty body
  }
  if (!resp.ok) {
    const err = new Error(answer.message || `HTTP ${resp.status}`);
    err.name = answer.__type || resp.headers.get("X-Amzn-ErrorType") || `HTTP${resp.status}`;
    err.$metadata = { httpStatusCode: resp.status };
    throw err;
  }
  return answer;
}
