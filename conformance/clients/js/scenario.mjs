// Conformance scenario for amplifybackendd driven by the AWS SDK for JavaScript v3
// (@aws-sdk/client-amplifybackend). Protocol: see ../../README.md. Environment in,
// one JSON line per check out, last line names the client and its version; exit 0.

import { createRequire } from "node:module";
import * as sdk from "@aws-sdk/client-amplifybackend";
import { recordEndpoint } from "./endpoint.mjs";

const {
  AmplifyBackendClient,
  BadRequestException,
  CloneBackendCommand,
  CreateBackendCommand,
  CreateBackendStorageCommand,
  CreateTokenCommand,
  DeleteBackendCommand,
  DeleteBackendStorageCommand,
  DeleteTokenCommand,
  GetBackendCommand,
  GetBackendJobCommand,
  GetBackendStorageCommand,
  GetTokenCommand,
  ImportBackendStorageCommand,
  ListBackendJobsCommand,
  ListS3BucketsCommand,
  NotFoundException,
  RemoveAllBackendsCommand,
  UpdateBackendJobCommand,
  UpdateBackendStorageCommand,
} = sdk;

const env = (name) => {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`environment variable ${name} is not set`);
  return v;
};

const ENDPOINT = env("AB_ENDPOINT");
const REGION = env("AB_REGION");
const KEY_ID = env("AB_KEY_ID");
const SECRET = env("AB_SECRET");
const WRONG_SECRET = env("AB_WRONG_SECRET");
const UNKNOWN_KEY_ID = env("AB_UNKNOWN_KEY_ID");
const CONTROL = env("AB_CONTROL").replace(/\/+$/, "");
const APP = env("AB_APP");
const BUCKET_PREFIX = env("AB_BUCKET_PREFIX");
const IMPORT_BUCKET = env("AB_IMPORT_BUCKET");
const IMPORT_BUCKET_CREATED = env("AB_IMPORT_BUCKET_CREATED");
const PAGING_ENV = env("AB_PAGING_ENV");
const PAGING_JOBS = env("AB_PAGING_JOBS").split(",");

const ENV = "dev";
const PHOTOS_BUCKET = `${BUCKET_PREFIX}-photos`;
const SKEW_MS = -10 * 60 * 1000;

const clients = [];
function makeClient(overrides = {}) {
  const c = new AmplifyBackendClient({
    endpoint: ENDPOINT,
    region: REGION,
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    // A hung server must fail a check, not the whole run.
    requestHandler: { connectionTimeout: 5000, requestTimeout: 30000 },
    ...overrides,
  });
  clients.push(c);
  return c;
}

const client = makeClient();

// ---------------------------------------------------------------- helpers

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

class CheckFailed extends Error {
  constructor(message) {
    super(message);
    this.name = "CheckFailed";
  }
}

function assert(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

function errText(e) {
  if (e instanceof CheckFailed) return e.message;
  const name = e && e.name ? e.name : "Error";
  const msg = e && e.message !== undefined ? e.message : String(e);
  const status = e && e.$metadata && e.$metadata.httpStatusCode;
  return `${name}: ${msg}${status ? ` (HTTP ${status})` : ""}`;
}

async function check(name, fn) {
  let ok = false;
  let detail = "";
  try {
    detail = (await fn()) ?? "";
    ok = true;
  } catch (e) {
    detail = errText(e);
  }
  emit({ check: name, ok, detail: String(detail) });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll GetBackendJob every 100 ms (at most 60 s) until the status leaves RUNNING.
async function waitJob(jobId, appId = APP, envName = ENV) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = await client.send(
      new GetBackendJobCommand({ AppId: appId, BackendEnvironmentName: envName, JobId: jobId }),
    );
    if (job.Status !== "RUNNING") return job;
    if (Date.now() > deadline) throw new CheckFailed(`job ${jobId} still RUNNING after 60s`);
    await sleep(100);
  }
}

function expectCompleted(job, what) {
  assert(
    job.Status === "COMPLETED",
    `${what}: job ${job.JobId} ended ${job.Status}${job.Error ? ` (${job.Error})` : ""}`,
  );
}

function sameSet(got, want) {
  if (!Array.isArray(got)) return false;
  const g = new Set(got);
  const w = new Set(want);
  if (g.size !== w.size) return false;
  for (const x of w) if (!g.has(x)) return false;
  return true;
}

const show = (v) => JSON.stringify(v);

async function listAllJobs(input) {
  const jobs = [];
  let token;
  let pages = 0;
  do {
    const out = await client.send(new ListBackendJobsCommand({ ...input, NextToken: token }));
    jobs.push(...(out.Jobs ?? []));
    token = out.NextToken;
    if (++pages > 100) throw new CheckFailed("more than 100 pages: NextToken never ends");
  } while (token !== undefined);
  return jobs;
}

async function expectError(promise, name) {
  try {
    const out = await promise;
    throw new CheckFailed(`expected ${name}, call succeeded: ${show(out).slice(0, 200)}`);
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    return e;
  }
}

// ---------------------------------------------------------------- state shared between checks

let createJobId; // CreateBackendStorage photos

// ---------------------------------------------------------------- checks

async function main() {
  await check("create_named", async () => {
    const out = await client.send(
      new CreateBackendStorageCommand({
        AppId: APP,
        BackendEnvironmentName: ENV,
        ResourceName: "photos",
        ResourceConfig: {
          BucketName: PHOTOS_BUCKET,
          ServiceName: "S3",
          Permissions: {
            Authenticated: ["READ", "CREATE_AND_UPDATE", "DELETE"],
            UnAuthenticated: ["READ"],
          },
        },
      }),
    );
    assert(out.Status === "RUNNING", `create answered status ${show(out.Status)}, want RUNNING`);
    assert(typeof out.JobId === "string" && out.JobId !== "", `no JobId in ${show(out)}`);
    createJobId = out.JobId;
    const job = await waitJob(out.JobId);
    expectCompleted(job, "create photos");
    assert(!(job.Error ?? "").includes("lifecycle"), `create photos warns: ${job.Error}`);
    return `jobId=${out.JobId} RUNNING -> ${job.Status}`;
  });

  await check("get_job", async () => {
    assert(createJobId, "no job id from create_named");
    const job = await client.send(
      new GetBackendJobCommand({ AppId: APP, BackendEnvironmentName: ENV, JobId: createJobId }),
    );
    assert(job.Operation === "CreateBackendStorage", `Operation ${show(job.Operation)}`);
    assert(job.JobId === createJobId, `JobId ${show(job.JobId)}, want ${createJobId}`);
    assert(typeof job.CreateTime === "string" && job.CreateTime !== "", `CreateTime ${show(job.CreateTime)}`);
    assert(typeof job.UpdateTime === "string" && job.UpdateTime !== "", `UpdateTime ${show(job.UpdateTime)}`);
    assert(job.Status === "COMPLETED", `Status ${show(job.Status)}`);
    assert(job.Error === undefined, `a completed job carries an error: ${show(job.Error)}`);
    return `operation=${job.Operation} status=${job.Status} created=${job.CreateTime} updated=${job.UpdateTime}`;
  });

  await check("create_derived", async () => {
    const out = await client.send(
      new CreateBackendStorageCommand({
        AppId: APP,
        BackendEnvironmentName: ENV,
        ResourceName: "docs",
        ResourceConfig: {
          ServiceName: "S3",
          Permissions: { Authenticated: ["READ"], UnAuthenticated: [] },
        },
      }),
    );
    assert(out.JobId, `no JobId in ${show(out)}`);
    const job = await waitJob(out.JobId);
    expectCompleted(job, "create docs");
    const st = await client.send(
      new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "docs" }),
    );
    const b = st.ResourceConfig?.BucketName;
    assert(typeof b === "string" && b !== "", `no BucketName in ${show(st.ResourceConfig)}`);
    assert(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b), `derived bucket name ${show(b)} is not a valid S3 name`);
    return `derived bucket ${b}`;
  });

  await check("get_storage", async () => {
    const st = await client.send(
      new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "photos" }),
    );
    const rc = st.ResourceConfig ?? {};
    assert(rc.BucketName === PHOTOS_BUCKET, `BucketName ${show(rc.BucketName)}, want ${PHOTOS_BUCKET}`);
    assert(rc.Imported === false, `Imported ${show(rc.Imported)} (${typeof rc.Imported}), want boolean false`);
    assert(rc.ServiceName === "S3", `ServiceName ${show(rc.ServiceName)}`);
    const p = rc.Permissions ?? {};
    assert(
      sameSet(p.Authenticated, ["READ", "CREATE_AND_UPDATE", "DELETE"]),
      `Authenticated ${show(p.Authenticated)}`,
    );
    assert(sameSet(p.UnAuthenticated, ["READ"]), `UnAuthenticated ${show(p.UnAuthenticated)}`);
    assert(st.ResourceName === "photos", `ResourceName ${show(st.ResourceName)}`);
    assert(st.AppId === APP, `AppId ${show(st.AppId)}`);
    assert(st.BackendEnvironmentName === ENV, `BackendEnvironmentName ${show(st.BackendEnvironmentName)}`);
    return `bucket=${rc.BucketName} imported=${rc.Imported} permissions=${show(p)}`;
  });

  await check("update_storage", async () => {
    const out = await client.send(
      new UpdateBackendStorageCommand({
        AppId: APP,
        BackendEnvironmentName: ENV,
        ResourceName: "photos",
        ResourceConfig: {
          ServiceName: "S3",
          Permissions: { Authenticated: ["READ"], UnAuthenticated: ["READ", "CREATE_AND_UPDATE"] },
        },
      }),
    );
    assert(out.JobId, `no JobId in ${show(out)}`);
    const job = await waitJob(out.JobId);
    expectCompleted(job, "update photos");
    const st = await client.send(
      new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "photos" }),
    );
    const p = st.ResourceConfig?.Permissions ?? {};
    assert(sameSet(p.Authenticated, ["READ"]), `Authenticated ${show(p.Authenticated)}`);
    assert(sameSet(p.UnAuthenticated, ["READ", "CREATE_AND_UPDATE"]), `UnAuthenticated ${show(p.UnAuthenticated)}`);
    return `jobId=${out.JobId} permissions now ${show(p)}`;
  });

  await check("get_backend", async () => {
    const out = await client.send(new GetBackendCommand({ AppId: APP, BackendEnvironmentName: ENV }));
    const envs = out.BackendEnvironmentList ?? [];
    assert(envs.includes(ENV), `BackendEnvironmentList ${show(out.BackendEnvironmentList)}`);
    assert(typeof out.AmplifyMetaConfig === "string", `AmplifyMetaConfig ${show(out.AmplifyMetaConfig)}`);
    const meta = JSON.parse(out.AmplifyMetaConfig);
    const b = meta?.storage?.photos?.output?.BucketName;
    assert(b === PHOTOS_BUCKET, `storage.photos.output.BucketName ${show(b)}, want ${PHOTOS_BUCKET}`);
    assert(out.Error === undefined, `GetBackend of a healthy environment carries an error: ${show(out.Error)}`);
    assert(JSON.parse(out.AmplifyFeatureFlags ?? "{}").features, `AmplifyFeatureFlags ${show(out.AmplifyFeatureFlags)}`);
    return `environments=${show(envs)} photos bucket=${b}`;
  });

  await check("list_jobs_filter", async () => {
    const upd = await listAllJobs({ AppId: APP, BackendEnvironmentName: ENV, Operation: "UpdateBackendStorage" });
    assert(upd.length === 1, `Operation=UpdateBackendStorage gave ${upd.length} jobs: ${show(upd.map((j) => j.Operation))}`);
    assert(upd[0].Operation === "UpdateBackendStorage", `Operation filter returned ${show(upd[0].Operation)}`);
    const done = await listAllJobs({ AppId: APP, BackendEnvironmentName: ENV, Status: "COMPLETED" });
    assert(done.length >= 3, `Status=COMPLETED gave ${done.length} jobs, want >= 3`);
    assert(
      done.every((j) => j.Status === "COMPLETED"),
      `Status=COMPLETED returned ${show(done.map((j) => j.Status))}`,
    );
    assert(createJobId, "no job id from create_named");
    const one = await listAllJobs({ AppId: APP, BackendEnvironmentName: ENV, JobId: createJobId });
    assert(
      one.length === 1 && one[0].JobId === createJobId,
      `JobId filter gave ${show(one.map((j) => j.JobId))}, want [${createJobId}]`,
    );
    return `operation filter: 1 job; status filter: ${done.length} COMPLETED; jobId filter: ${one[0].JobId}`;
  });

  await check("import_storage", async () => {
    const out = await client.send(
      new ImportBackendStorageCommand({
        AppId: APP,
        BackendEnvironmentName: ENV,
        BucketName: IMPORT_BUCKET,
        ServiceName: "S3",
      }),
    );
    assert(out.JobId, `no JobId in ${show(out)}`);
    const job = await waitJob(out.JobId);
    expectCompleted(job, "import");
    const st = await client.send(
      new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: IMPORT_BUCKET }),
    );
    const rc = st.ResourceConfig ?? {};
    assert(rc.Imported === true, `Imported ${show(rc.Imported)} (${typeof rc.Imported}), want boolean true`);
    return `jobId=${out.JobId} resource ${st.ResourceName} bucket=${rc.BucketName} imported=${rc.Imported}`;
  });

  await check("list_s3_buckets", async () => {
    const buckets = [];
    let token;
    let pages = 0;
    do {
      const out = await client.send(new ListS3BucketsCommand({ NextToken: token }));
      buckets.push(...(out.Buckets ?? []));
      token = out.NextToken;
      if (++pages > 100) throw new CheckFailed("more than 100 pages: NextToken never ends");
    } while (token !== undefined);
    const found = [];
    for (const want of [IMPORT_BUCKET, PHOTOS_BUCKET]) {
      const b = buckets.find((x) => x.Name === want);
      assert(b, `bucket ${want} not listed among ${show(buckets.map((x) => x.Name))}`);
      assert(
        typeof b.CreationDate === "string" && b.CreationDate !== "",
        `bucket ${want} CreationDate ${show(b.CreationDate)} (${typeof b.CreationDate})`,
      );
      found.push(`${b.Name}@${b.CreationDate}`);
    }
    const imported = buckets.find((x) => x.Name === IMPORT_BUCKET);
    assert(
      imported.CreationDate === IMPORT_BUCKET_CREATED,
      `bucket ${IMPORT_BUCKET} CreationDate ${show(imported.CreationDate)}, created ${IMPORT_BUCKET_CREATED}`,
    );
    return `${buckets.length} buckets; ${found.join(", ")}`;
  });

  await check("cancel_job", async () => {
    let jobId;
    let cancelled;
    let pauseStatus;
    try {
      const pr = await fetch(`${CONTROL}/pause`, { method: "POST" });
      pauseStatus = pr.status;
      const out = await client.send(
        new CreateBackendStorageCommand({
          AppId: APP,
          BackendEnvironmentName: ENV,
          ResourceName: "stuck",
          ResourceConfig: { ServiceName: "S3", Permissions: { Authenticated: ["READ"] } },
        }),
      );
      assert(out.JobId, `no JobId in ${show(out)}`);
      jobId = out.JobId;
      cancelled = await client.send(
        new UpdateBackendJobCommand({
          AppId: APP,
          BackendEnvironmentName: ENV,
          JobId: jobId,
          Status: "CANCELLED",
        }),
      );
    } finally {
      await fetch(`${CONTROL}/resume`, { method: "POST" });
    }
    assert(
      cancelled.Status === "CANCELLED",
      `UpdateBackendJob answered Status ${show(cancelled.Status)}, want CANCELLED`,
    );
    const job = await client.send(
      new GetBackendJobCommand({ AppId: APP, BackendEnvironmentName: ENV, JobId: jobId }),
    );
    assert(job.Status === "CANCELLED", `GetBackendJob Status ${show(job.Status)} after cancel`);
    return `pause HTTP ${pauseStatus}; jobId=${jobId} UpdateBackendJob -> ${cancelled.Status}; GetBackendJob -> ${job.Status}`;
  });

  await check("delete_storage", async () => {
    const out = await client.send(
      new DeleteBackendStorageCommand({
        AppId: APP,
        BackendEnvironmentName: ENV,
        ResourceName: "photos",
        ServiceName: "S3",
      }),
    );
    assert(out.JobId, `no JobId in ${show(out)}`);
    const job = await waitJob(out.JobId);
    expectCompleted(job, "delete photos");
    const e = await expectError(
      client.send(
        new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "photos" }),
      ),
      "NotFoundException",
    );
    assert(e.name === "NotFoundException", `GetBackendStorage after delete threw ${errText(e)}`);
    return `jobId=${out.JobId} COMPLETED; GetBackendStorage photos -> ${e.name}`;
  });

  await check("create_backend", async () => {
    const out = await client.send(
      new CreateBackendCommand({ AppId: APP, AppName: "Conformance", BackendEnvironmentName: "made" }),
    );
    assert(out.Operation === "CreateBackend" && out.Status === "RUNNING" && out.BackendEnvironmentName === "made", show(out));
    expectCompleted(await waitJob(out.JobId, APP, "made"), "CreateBackend");
    const b = await client.send(new GetBackendCommand({ AppId: APP }));
    assert(b.AppName === "Conformance" && b.BackendEnvironmentList.includes("made"), show(b));
    const e = await expectError(
      client.send(new CreateBackendCommand({ AppId: APP, AppName: "Conformance", BackendEnvironmentName: "made" })),
      "BadRequestException",
    );
    assert(e instanceof BadRequestException && /already exists/.test(e.message), errText(e));
    return show(b.BackendEnvironmentList);
  });

  await check("clone_backend", async () => {
    const out = await client.send(
      new CloneBackendCommand({ AppId: APP, BackendEnvironmentName: ENV, TargetEnvironmentName: "copy" }),
    );
    assert(out.Operation === "CloneBackend" && out.Status === "RUNNING", show(out));
    const job = await waitJob(out.JobId);
    expectCompleted(job, "CloneBackend");
    assert(job.Operation === "CloneBackend", show(job));
    const src = await client.send(new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "docs" }));
    const dst = await client.send(new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: "copy", ResourceName: "docs" }));
    assert(dst.ResourceConfig.BucketName !== src.ResourceConfig.BucketName, `${show(src)} ${show(dst)}`);
    assert(show(dst.ResourceConfig.Permissions) === show(src.ResourceConfig.Permissions), `${show(src)} ${show(dst)}`);
    return dst.ResourceConfig.BucketName;
  });

  await check("delete_backend", async () => {
    const out = await client.send(new DeleteBackendCommand({ AppId: APP, BackendEnvironmentName: "copy" }));
    assert(out.Operation === "DeleteBackend", show(out));
    expectCompleted(await waitJob(out.JobId, APP, "copy"), "DeleteBackend");
    const e = await expectError(
      client.send(new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: "copy", ResourceName: "docs" })),
      "NotFoundException",
    );
    assert(e.name === "NotFoundException", errText(e));
    const b = await client.send(new GetBackendCommand({ AppId: APP }));
    assert(!b.BackendEnvironmentList.includes("copy"), show(b));
    return "gone";
  });

  await check("remove_all_backends", async () => {
    const app = `${APP}-all`;
    const made = await client.send(new CreateBackendCommand({ AppId: app, AppName: "Gone", BackendEnvironmentName: "one" }));
    await waitJob(made.JobId, app, "one");
    const out = await client.send(new RemoveAllBackendsCommand({ AppId: app, CleanAmplifyApp: true }));
    assert(out.Operation === "RemoveAllBackends" && out.BackendEnvironmentName === undefined, show(out));
    expectCompleted(await waitJob(out.JobId, app, "one"), "RemoveAllBackends");
    const b = await client.send(new GetBackendCommand({ AppId: app }));
    assert(b.BackendEnvironmentList.length === 0 && b.AppName === undefined, show(b));
    return out.JobId;
  });

  await check("not_found", async () => {
    const e = await expectError(
      client.send(new GetBackendStorageCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "nope" })),
      "NotFoundException",
    );
    assert(e.name === "NotFoundException", `threw ${errText(e)}`);
    assert(e instanceof NotFoundException, `error named NotFoundException is not instanceof NotFoundException`);
    assert(e.ResourceType === "storage", `ResourceType ${show(e.ResourceType)} (resourceType ${show(e.resourceType)})`);
    const status = e.$metadata?.httpStatusCode;
    assert(status === 404, `httpStatusCode ${status}`);
    return `${e.name} instanceof NotFoundException, ResourceType=${show(e.ResourceType)}, HTTP ${status}, message=${show(e.message)}`;
  });

  await check("bad_request", async () => {
    const e = await expectError(
      client.send(
        new CreateBackendStorageCommand({
          AppId: APP,
          BackendEnvironmentName: ENV,
          ResourceName: "bad",
          ResourceConfig: { BucketName: "Bad_Bucket", ServiceName: "S3", Permissions: { Authenticated: [] } },
        }),
      ),
      "BadRequestException",
    );
    assert(e.name === "BadRequestException", `threw ${errText(e)}`);
    assert(e instanceof BadRequestException, `error named BadRequestException is not instanceof BadRequestException`);
    assert(typeof e.message === "string" && e.message.includes("bucketName"), `message ${show(e.message)} lacks "bucketName"`);
    return `${e.name} HTTP ${e.$metadata?.httpStatusCode}: ${e.message}`;
  });

  async function authError(name, overrides, wantName, wantStatus = 403) {
    await check(name, async () => {
      const c = makeClient(overrides);
      const e = await expectError(c.send(new ListS3BucketsCommand({})), wantName);
      const status = e.$metadata?.httpStatusCode;
      assert(e.name === wantName, `threw ${errText(e)}, want ${wantName}`);
      assert(status === wantStatus, `${e.name} with HTTP ${status}, want ${wantStatus}`);
      return `${e.name} HTTP ${status} attempts=${e.$metadata?.attempts}: ${e.message}`;
    });
  }

  await authError(
    "invalid_signature",
    { credentials: { accessKeyId: KEY_ID, secretAccessKey: WRONG_SECRET }, maxAttempts: 1 },
    "InvalidSignatureException",
  );

  await authError(
    "unrecognized_client",
    { credentials: { accessKeyId: UNKNOWN_KEY_ID, secretAccessKey: SECRET }, maxAttempts: 1 },
    "UnrecognizedClientException",
  );

  await authError(
    "missing_token",
    { signer: { sign: async (req) => req }, maxAttempts: 1 },
    "MissingAuthenticationTokenException",
  );

  await authError(
    "clock_skew_refused",
    { systemClockOffset: SKEW_MS, maxAttempts: 1 },
    "InvalidSignatureException",
  );

  await check("clock_skew_corrected", async () => {
    const c = makeClient({ systemClockOffset: SKEW_MS });
    const before = c.config.systemClockOffset;
    const out = await c.send(new ListS3BucketsCommand({}));
    const after = c.config.systemClockOffset;
    const attempts = out.$metadata?.attempts;
    assert(Math.abs(after) <= 60_000, `offset before=${before}ms after=${after}ms: not corrected (attempts=${attempts})`);
    return `succeeded after ${attempts} attempts; systemClockOffset before=${before}ms after=${after}ms`;
  });

  function checkPages(pages, how) {
    const ids = pages.flatMap((p) => (p.Jobs ?? []).map((j) => j.JobId));
    for (let i = 0; i < pages.length; i++) {
      const last = i === pages.length - 1;
      const t = pages[i].NextToken;
      if (last) {
        assert(t === undefined, `${how}: last page (${i + 1}) has NextToken ${show(t)}, want absent`);
      } else {
        assert(typeof t === "string" && t !== "", `${how}: page ${i + 1} of ${pages.length} has NextToken ${show(t)}`);
      }
      const n = (pages[i].Jobs ?? []).length;
      assert(n <= 7, `${how}: page ${i + 1} has ${n} jobs, MaxResults was 7`);
    }
    assert(new Set(ids).size === ids.length, `${how}: duplicate job ids across pages`);
    assert(ids.length === PAGING_JOBS.length, `${how}: ${ids.length} jobs, want ${PAGING_JOBS.length}`);
    for (let i = 0; i < ids.length; i++) {
      assert(ids[i] === PAGING_JOBS[i], `${how}: job #${i} is ${ids[i]}, want ${PAGING_JOBS[i]}`);
    }
    return `${ids.length} jobs in ${pages.length} pages (sizes ${pages.map((p) => (p.Jobs ?? []).length).join(",")}), order matches, last NextToken absent`;
  }

  await check("paginate_loop", async () => {
    const pages = [];
    let token;
    do {
      const out = await client.send(
        new ListBackendJobsCommand({
          AppId: APP,
          BackendEnvironmentName: PAGING_ENV,
          MaxResults: 7,
          NextToken: token,
        }),
      );
      pages.push(out);
      token = out.NextToken;
      if (pages.length > 100) throw new CheckFailed("more than 100 pages: NextToken never ends");
    } while (token !== undefined);
    return checkPages(pages, "loop");
  });

  if (typeof sdk.paginateListBackendJobs === "function") {
    await check("paginate_paginator", async () => {
      const pages = [];
      for await (const page of sdk.paginateListBackendJobs(
        { client, pageSize: 7 },
        { AppId: APP, BackendEnvironmentName: PAGING_ENV },
      )) {
        pages.push(page);
        if (pages.length > 100) throw new CheckFailed("more than 100 pages: paginator never ends");
      }
      return checkPages(pages, "paginator");
    });
  }

  await check("odd_names", async () => {
    const app = `${APP} odd/é+%?#:`;
    const envName = "dev env";
    const res = "r/1 +x";
    const out = await client.send(
      new CreateBackendStorageCommand({
        AppId: app,
        BackendEnvironmentName: envName,
        ResourceName: res,
        ResourceConfig: { ServiceName: "S3", Permissions: { Authenticated: ["READ", "READ"], UnAuthenticated: [] } },
      }),
    );
    assert(out.JobId, `no JobId in ${show(out)}`);
    const job = await waitJob(out.JobId, app, envName);
    expectCompleted(job, "create odd");
    const st = await client.send(
      new GetBackendStorageCommand({ AppId: app, BackendEnvironmentName: envName, ResourceName: res }),
    );
    assert(st.AppId === app, `AppId ${show(st.AppId)}, sent ${show(app)}`);
    assert(st.BackendEnvironmentName === envName, `BackendEnvironmentName ${show(st.BackendEnvironmentName)}, sent ${show(envName)}`);
    assert(st.ResourceName === res, `ResourceName ${show(st.ResourceName)}, sent ${show(res)}`);
    const auth = st.ResourceConfig?.Permissions?.Authenticated;
    assert(show(auth) === show(["READ"]), `Authenticated ${show(auth)}, want ["READ"]`);
    const jobs = await listAllJobs({ AppId: app, BackendEnvironmentName: envName });
    assert(
      jobs.some((j) => j.JobId === out.JobId),
      `ListBackendJobs on the odd app/env gave ${show(jobs.map((j) => j.JobId))}, missing ${out.JobId}`,
    );
    return `jobId=${out.JobId} COMPLETED; names echoed byte-identical; Authenticated=${show(auth)}; listed among ${jobs.length} jobs`;
  });

  // The SDK sends a label "." or ".." as it is (/backend/./details) and
  // signs the path without its dot segments, as AWS checks it: the name is
  // refused with the field named, never as a signature failure.
  await check("dot_names", async () => {
    const noRetry = makeClient({ maxAttempts: 1 });
    const calls = [
      ["appId", new GetBackendCommand({ AppId: "." })],
      ["appId", new GetBackendCommand({ AppId: ".." })],
      ["jobId", new GetBackendJobCommand({ AppId: APP, BackendEnvironmentName: ENV, JobId: ".." })],
      ["backendEnvironmentName", new CreateBackendStorageCommand({
        AppId: APP, BackendEnvironmentName: "..", ResourceName: "dots",
        ResourceConfig: { ServiceName: "S3", Permissions: { Authenticated: ["READ"] } },
      })],
    ];
    const seen = [];
    for (const [field, cmd] of calls) {
      const e = await expectError(noRetry.send(cmd), "BadRequestException");
      assert(e instanceof BadRequestException, `${field}: threw ${errText(e)}`);
      assert(e.message.includes(field), `message ${show(e.message)} does not name ${field}`);
      seen.push(e.message);
    }
    return seen.join(" | ");
  });

  // Operations of the model the server does not implement answer the
  // modeled BadRequestException naming them, so the SDK throws its class.
  await check("unsupported_operation", async () => {
    const calls = [
      ["CreateBackendAuth", new sdk.CreateBackendAuthCommand({
        AppId: APP, BackendEnvironmentName: ENV, ResourceName: "auth",
        ResourceConfig: { AuthResources: "USER_POOL_ONLY", Service: "COGNITO",
          UserPoolConfigs: { RequiredSignUpAttributes: [], SignInMethod: "EMAIL", UserPoolName: "p" } },
      })],
      ["DeleteBackendAuth", new sdk.DeleteBackendAuthCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "auth" })],
      ["GenerateBackendAPIModels", new sdk.GenerateBackendAPIModelsCommand({ AppId: APP, BackendEnvironmentName: ENV, ResourceName: "api" })],
    ];
    const seen = [];
    for (const [name, cmd] of calls) {
      const e = await expectError(client.send(cmd), "BadRequestException");
      assert(e instanceof BadRequestException, `${name}: threw ${errText(e)}`);
      assert(e.$metadata?.httpStatusCode === 400, `${name}: HTTP ${e.$metadata?.httpStatusCode}`);
      assert(e.message.includes(name), `message ${show(e.message)} does not name ${name}`);
      seen.push(e.message);
    }
    return seen.join(" | ");
  });

  // The token operations, and the console's exchange of a challenge.
  const checkToken = (t) => {
    assert(t.AppId === APP, `AppId ${show(t.AppId)}`);
    assert(/^[0-9a-f-]{36}$/.test(t.SessionId ?? ""), `SessionId ${show(t.SessionId)}`);
    assert(/^[0-9a-f]{32}$/.test(t.ChallengeCode ?? ""), `ChallengeCode ${show(t.ChallengeCode)}`);
    const ttl = Number(t.Ttl);
    assert(/^\d+$/.test(t.Ttl ?? "") && ttl > 0 && ttl <= 900, `Ttl ${show(t.Ttl)}`);
    return ttl;
  };
  const signIn = async (sessionId, challengeCode) => {
    const res = await fetch(`${ENDPOINT.replace(/\/+$/, "")}/console-api/sign-in`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ appId: APP, sessionId, challengeCode }),
    });
    return [res.status, await res.json()];
  };
  let token;
  await check("create_token", async () => {
    const out = await client.send(new CreateTokenCommand({ AppId: APP }));
    const ttl = checkToken(out);
    assert(ttl === 900, `Ttl ${show(out.Ttl)}, want "900"`);
    token = out;
    return `SessionId ${out.SessionId}, Ttl ${out.Ttl}`;
  });
  await check("get_token", async () => {
    const out = await client.send(new GetTokenCommand({ AppId: APP, SessionId: token.SessionId }));
    checkToken(out);
    assert(out.SessionId === token.SessionId && out.ChallengeCode === token.ChallengeCode, `got ${show(out)}`);
    return `Ttl ${out.Ttl}`;
  });
  await check("sign_in", async () => {
    // Once, through plain HTTP as the console does; the credentials sign
    // the SDK's calls on the app.
    const t = await client.send(new CreateTokenCommand({ AppId: APP }));
    const [status, cred] = await signIn(t.SessionId, t.ChallengeCode);
    assert(status === 200 && cred.accessKeyId?.startsWith("ASIA") && cred.appId === APP, `${status} ${show(cred)}`);
    const session = makeClient({ credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey } });
    checkToken(await session.send(new CreateTokenCommand({ AppId: APP })));
    const [again, refused] = await signIn(t.SessionId, t.ChallengeCode);
    assert(again === 403 && refused.__type === "AccessDeniedException", `again: ${again} ${show(refused)}`);
    return `${cred.accessKeyId.slice(0, 4)} until ${cred.expiration}; again: ${refused.message}`;
  });
  await check("delete_token", async () => {
    const out = await client.send(new DeleteTokenCommand({ AppId: APP, SessionId: token.SessionId }));
    assert(out.IsSuccess === true, `IsSuccess ${show(out.IsSuccess)}`);
    return `IsSuccess ${out.IsSuccess}`;
  });
  await check("token_gone", async () => {
    const e = await expectError(
      client.send(new GetTokenCommand({ AppId: APP, SessionId: token.SessionId })),
      "NotFoundException",
    );
    assert(e instanceof NotFoundException && e.$metadata?.httpStatusCode === 404, `threw ${errText(e)}`);
    return `${e.name}: ${e.message}`;
  });

  // A first start's own files (AB_HOME_*): a client made with no settings
  // at all finds the API's endpoint, region and key in them.
  if (process.env.AB_CONFIG_ENDPOINTS === "1") {
    await check("config_endpoints", async () => {
      const saved = [process.env.AWS_CONFIG_FILE, process.env.AWS_SHARED_CREDENTIALS_FILE];
      process.env.AWS_CONFIG_FILE = env("AB_HOME_CONFIG");
      process.env.AWS_SHARED_CREDENTIALS_FILE = env("AB_HOME_CREDENTIALS");
      const c = new AmplifyBackendClient({});
      clients.push(c);
      const sent = recordEndpoint(c);
      try {
        const out = await c.send(new ListS3BucketsCommand({}));
        assert(sent.to === env("AB_HOME_API"), `sent to ${sent.to}, want ${env("AB_HOME_API")}`);
        const names = (out.Buckets ?? []).map((b) => b.Name);
        assert(names.includes(env("AB_HOME_BUCKET")), `buckets ${show(names)}`);
        return `ListS3Buckets sent to ${sent.to}`;
      } finally {
        [process.env.AWS_CONFIG_FILE, process.env.AWS_SHARED_CREDENTIALS_FILE] = saved;
      }
    });
  }
}

function sdkVersion() {
  try {
    const require = createRequire(import.meta.url);
    return require("@aws-sdk/client-amplifybackend/package.json").version;
  } catch (e) {
    return `unknown (${errText(e)})`;
  }
}

try {
  await main();
} catch (e) {
  // check() never throws; this is a bug in the scenario itself, still report it.
  emit({ check: "scenario", ok: false, detail: errText(e) });
}
for (const c of clients) c.destroy();
emit({ client: "aws-sdk-js-v3", version: sdkVersion() });
process.exitCode = 0;
