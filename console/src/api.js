// Every call the console makes is SigV4-signed in the browser: the
// AmplifyBackend operations by the official SDK client, the /console-api/
// extension routes by the SDK's SignatureV4 signer with the client's own
// SHA-256. The key and secret live in sessionStorage only (gone when the tab
// closes) and are sent nowhere: only signatures leave the browser. The one
// unsigned call is the sign-in exchange, which trades an invitation (a
// CreateToken challenge) for temporary credentials kept the same way.

import { AmplifyBackendClient, DeleteTokenCommand, ListS3BucketsCommand } from "@aws-sdk/client-amplifybackend";
import { SignatureV4 } from "@smithy/signature-v4";

const STORAGE_KEY = "amplifybackendd.console.credentials";
const SERVICE = "amplifybackend";
// The server accepts any region in the credential scope; the buckets' own
// region comes from GetBackend's amplify-meta.
export const SIGNING_REGION = "us-east-1";

let session = null;

// A session is the signing client plus, for temporary credentials from an
// invitation, what the exchange answered: { appId, sessionId, expiration }.
function makeSession(credentials, invitation = null) {
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
  return { credentials, client, signer, invitation };
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

/**
 * restore picks up a session kept in this tab's sessionStorage. Temporary
 * credentials past their expiration are not restored: restore answers the
 * invitation they came from ({ expired: true, appId, expiration }) so the
 * sign-in screen can say why the person is back there.
 */
export function restore() {
  try {
    const c = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (c && typeof c.accessKeyId === "string" && typeof c.secretAccessKey === "string") {
      const inv = c.invitation && typeof c.invitation.expiration === "string" ? c.invitation : null;
      if (inv && !(new Date(inv.expiration).getTime() > Date.now())) {
        sessionStorage.removeItem(STORAGE_KEY);
        return { expired: true, appId: inv.appId, expiration: inv.expiration };
      }
      session = makeSession({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, inv);
    }
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  return null;
}

function keep(s) {
  const { accessKeyId, secretAccessKey } = s.credentials;
  const old = session;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ accessKeyId, secretAccessKey, invitation: s.invitation }));
  session = s;
  // Signing in over a sign-in ends the one replaced, as Sign out would:
  // an invitation's credentials forgotten by the tab would otherwise stay
  // valid on the server until they expire.
  if (old) end(old);
}

/** end withdraws an invitation's challenge (DeleteToken) and drops the session's client. */
async function end(s) {
  if (s.invitation) {
    await s.client.send(new DeleteTokenCommand({ AppId: s.invitation.appId, SessionId: s.invitation.sessionId })).catch(() => {});
  }
  s.client.destroy();
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
  keep(s);
}

/**
 * redeem exchanges an invitation (the app id, session id and challenge code
 * CreateToken answered) for temporary credentials with the unsigned
 * POST /console-api/sign-in, once; a used, deleted, expired or wrong
 * challenge throws the server's AccessDeniedException and stores nothing.
 */
export async function redeem(appId, sessionId, challengeCode) {
  const resp = await fetch(new URL("/console-api/sign-in", window.location.origin), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ appId, sessionId, challengeCode }),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await answer(resp);
  const s = makeSession(
    { accessKeyId: body.accessKeyId, secretAccessKey: body.secretAccessKey },
    { appId: body.appId || appId, sessionId, expiration: body.expiration },
  );
  keep(s);
}

/**
 * signOut forgets the credentials. Those of an invitation are ended on the
 * server too (DeleteToken withdraws the challenge and every credential
 * exchanged for it), so a copy of them is worthless from then on; a failure
 * there still signs the tab out. end: false only forgets them (they expired).
 */
export async function signOut({ end: ending = true } = {}) {
  const s = session;
  sessionStorage.removeItem(STORAGE_KEY);
  session = null;
  if (!s) return;
  if (ending) await end(s);
  else s.client.destroy();
}

export const signedIn = () => session !== null;
export const accessKeyId = () => session?.credentials.accessKeyId ?? "";
/** invitation is { appId, sessionId, expiration } for credentials from an invitation, else null. */
export const invitation = () => session?.invitation ?? null;

let whenExpired = () => {};
/**
 * onExpired names what to do when the server refuses the invitation's
 * credentials as expired (ExpiredTokenException): the console's own timer
 * normally gets there first, but a tab asleep past the expiration does not.
 */
export const onExpired = (fn) => (whenExpired = fn);

function watchExpiry(err) {
  if (err?.name === "ExpiredTokenException" && session?.invitation) whenExpired();
  throw err;
}

/** send runs an SDK command with the session's client. */
export function send(command) {
  if (!session) return Promise.reject(Object.assign(new Error("Not signed in."), { name: "NotSignedIn" }));
  return session.client.send(command).catch(watchExpiry);
}

/** consoleGet makes a signed GET to a /console-api/ route; path is already escaped. */
export function consoleGet(path) {
  return consoleCall("GET", path);
}

/** answer reads a /console-api/ response: its JSON, or the API's error thrown. */
async function answer(resp) {
  let body = {};
  try {
    body = await resp.json();
  } catch {
    // not JSON: fall through with an empty body
  }
  if (!resp.ok) {
    const err = new Error(body.message || `HTTP ${resp.status}`);
    err.name = body.__type || resp.headers.get("X-Amzn-ErrorType") || `HTTP${resp.status}`;
    err.$metadata = { httpStatusCode: resp.status };
    throw err;
  }
  return body;
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
  return answer(resp).catch(watchExpiry);
}
